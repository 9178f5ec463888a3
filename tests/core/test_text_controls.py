"""A message text holding a control character (a NUL byte, an escape) is refused by the one
text check, so every kind of message that has a text, on every transport, refuses it.

The kinds are discovered: every message dataclass of the models with a ``text`` field.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from twofactor_notify import InvalidInputError, models
from twofactor_notify.emulator import Emulator
from twofactor_notify.transport import Transport
from twofactor_notify.validation import check_message

from .test_secrets_at_the_boundary import Call, _client, _target, _transport_classes

KINDS = [
    cls
    for _, cls in inspect.getmembers(models, inspect.isclass)
    if dataclasses.is_dataclass(cls)
    and cls.__module__ == models.__name__
    and "text" in {f.name for f in dataclasses.fields(cls)}
    and cls.__name__.endswith("Message")
]
CONTROLS = ["\x00", "\x1b", "\x07", "\x7f", "\x0c"]


def _message(cls: type, text: str) -> object:
    if cls is models.SMSMessage:
        return models.SMSMessage(to=("9876543210",), text=text, sender="TFACTR")
    return cls(to="9876543210", text=text, sender="TFACTR")


def test_the_kinds_are_found() -> None:
    assert {models.SMSMessage, models.BulkMessage} <= set(KINDS)


@pytest.mark.parametrize("control", CONTROLS, ids=repr)
@pytest.mark.parametrize("kind", KINDS, ids=lambda c: c.__name__)
def test_a_control_character_is_refused(kind: type, control: str) -> None:
    message = _message(kind, f"Your code{control} is ready")
    batch = models.BulkBatch(messages=(message,)) if kind is models.BulkMessage else message
    with pytest.raises(InvalidInputError, match=f"U\\+{ord(control):04X}"):
        check_message(batch)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["line one\nline two", "tab\there", "cr\r\nlf"])
def test_tabs_and_line_breaks_stay_allowed(text: str) -> None:
    check_message(models.SMSMessage(to=("9876543210",), text=text, sender="TFACTR"))


@pytest.mark.parametrize("cls", _transport_classes(), ids=lambda c: c.__name__)
def test_every_transport_refuses_it_before_sending(
    cls: type[Transport], emulator: Emulator
) -> None:
    with _client(emulator.url, emulator) as client:
        transport = _target(Call(cls, "send_sms"), client)
        with pytest.raises(InvalidInputError, match="U\\+0000"):
            transport.send_sms("9876543210", "bad\x00text", sender="TFACTR")
    assert emulator.messages() == []
