"""One set of checks: every core transport, and the client called directly, refuse the same
inputs with the same error class and field, before any hook and before any request.

The transports are discovered (every concrete :class:`Transport` subclass of the core), so a
transport added later is held to the same checks without editing this file.
"""

from __future__ import annotations

import inspect
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import (
    ConfigurationError,
    InvalidInputError,
    InvalidPhoneNumberError,
    OTPError,
    TwoFactorError,
)
from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import BulkMessage, OTPMessage, SMSMessage
from twofactor_notify.phone import normalize_phone
from twofactor_notify.transport import InMemoryTransport, Transport, TwoFactorTransport
from twofactor_notify.validation import check_message

from .conftest import RecordingPlugin

PHONE = "+919876543210"


def core_transport_classes() -> list[type[Transport]]:
    """Every concrete transport the core defines (found at run time, not listed)."""
    found: list[type[Transport]] = []
    todo = list(Transport.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("twofactor_notify.") and not inspect.isabstract(cls):
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__name__)


@pytest.fixture(scope="module")
def own_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(own_emulator: Emulator) -> Emulator:
    """An emulator of this module's own: "nothing reached it" must not be spoilt by a slow
    request another test left in flight on the shared one."""
    own_emulator.reset(settings=True)
    return own_emulator


@pytest.fixture
def make_any_transport(
    make_client: Callable[..., TwoFactorClient], tmp_path: Path
) -> Callable[[type[Transport]], tuple[Transport, RecordingPlugin]]:
    def factory(cls: type[Transport]) -> tuple[Transport, RecordingPlugin]:
        plugin = RecordingPlugin()
        kwargs: dict[str, Any] = {"plugins": [plugin], "load_entrypoints": False}
        if issubclass(cls, TwoFactorTransport):
            return cls(make_client(), **kwargs), plugin
        if "stream" in inspect.signature(cls).parameters:
            kwargs["stream"] = io.StringIO()
        if "directory" in inspect.signature(cls).parameters:
            kwargs["directory"] = tmp_path / "sms"
        return cls(**kwargs), plugin

    return factory


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


# (what, call on a transport, expected class, expected field). The examples first.
BAD_CALLS: list[tuple[str, Callable[[Any], object], type[InvalidInputError], str]] = [
    ("empty text", lambda t: t.send_sms(PHONE, "", sender="TFACTR"), InvalidInputError, "text"),
    (
        "1001 chars",
        lambda t: t.send_sms(PHONE, "x" * 1001, sender="TFACTR"),
        InvalidInputError,
        "text",
    ),
    ("int text", lambda t: t.send_sms(PHONE, 42, sender="TFACTR"), InvalidInputError, "text"),
    (
        "lone surrogate",
        lambda t: t.send_sms(PHONE, "a\ud800b", sender="TFACTR"),
        InvalidInputError,
        "text",
    ),
    (
        "long sender",
        lambda t: t.send_sms(PHONE, "hi", sender="TOOLONG1"),
        InvalidInputError,
        "sender",
    ),
    ("no sender", lambda t: t.send_sms(PHONE, "hi"), InvalidInputError, "sender"),
    ("int sender", lambda t: t.send_sms(PHONE, "hi", sender=123456), InvalidInputError, "sender"),
    ("short otp", lambda t: t.send_otp(PHONE, otp="12"), OTPError, "otp"),
    ("int otp", lambda t: t.send_otp(PHONE, otp=123456), OTPError, "otp"),
    ("otp length 5", lambda t: t.send_otp(PHONE, length=5), InvalidInputError, "length"),
    ("path template", lambda t: t.send_otp(PHONE, template="../x"), InvalidInputError, "template"),
    (
        "custom otp, include",
        lambda t: t.send_otp(PHONE, otp="1234", include_otp=True),
        InvalidInputError,
        "include_otp",
    ),
    ("int phone", lambda t: t.send_otp(9876543210), InvalidPhoneNumberError, "phone"),
    ("None phone", lambda t: t.send_otp(None), InvalidPhoneNumberError, "phone"),
    (
        "bytes phone",
        lambda t: t.send_sms(b"9876543210", "hi", sender="TFACTR"),
        InvalidPhoneNumberError,
        "phone",
    ),
    ("extension", lambda t: t.send_otp("+1 202 555 0143x"), InvalidPhoneNumberError, "phone"),
    (
        "ext. marker",
        lambda t: t.send_sms("+91 98765 43210 ext. 12", "hi", sender="TFACTR"),
        InvalidPhoneNumberError,
        "phone",
    ),
    ("no recipient", lambda t: t.send_sms([], "hi", sender="TFACTR"), InvalidInputError, "to"),
    (
        "schedule now",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", schedule_at=_soon()),
        InvalidInputError,
        "schedule_at",
    ),
    (
        "schedule str",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", schedule_at="tomorrow"),
        InvalidInputError,
        "schedule_at",
    ),
    (
        "pe_id letters",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", pe_id="12a"),
        InvalidInputError,
        "pe_id",
    ),
    (
        "ct_id int",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", ct_id=12),
        InvalidInputError,
        "ct_id",
    ),
    (
        "promo + DLT",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", promotional=True, pe_id="1"),
        InvalidInputError,
        "promotional",
    ),
    (
        "webhook alone",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", campaign_webhook="https://x.test/"),
        InvalidInputError,
        "campaign_webhook",
    ),
    (
        "relative webhook",
        lambda t: t.send_sms(
            PHONE, "hi", sender="TFACTR", campaign_name="c", campaign_webhook="/hook"
        ),
        InvalidInputError,
        "campaign_webhook",
    ),
    (
        "callback alone",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", shorten_url_callback="https://x.test/"),
        InvalidInputError,
        "shorten_urls",
    ),
    (
        "str bool",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", promotional="no"),
        InvalidInputError,
        "promotional",
    ),
    (
        "list metadata",
        lambda t: t.send_sms(PHONE, "hi", sender="TFACTR", metadata=[1]),
        InvalidInputError,
        "metadata",
    ),
    (
        "verify both",
        lambda t: t.verify_otp("1234", session_id="abc", phone=PHONE),
        InvalidInputError,
        "session_id",
    ),
    (
        "verify path",
        lambda t: t.verify_otp("1234", session_id="../BAL"),
        InvalidInputError,
        "session_id",
    ),
    ("verify int code", lambda t: t.verify_otp(1234, phone=PHONE), OTPError, "otp"),
    ("verify None code", lambda t: t.verify_otp(None, phone=PHONE), OTPError, "otp"),
    ("bulk of ints", lambda t: t.send_bulk([1, 2, 3]), InvalidInputError, "messages"),
    (
        "bulk typo key",
        lambda t: t.send_bulk([{"phone": PHONE, "text": "hi"}]),
        InvalidInputError,
        "messages",
    ),
    ("bulk a str", lambda t: t.send_bulk("+919876543210"), InvalidInputError, "messages"),
    ("bulk chunk str", lambda t: t.send_bulk([], chunk_size="10"), InvalidInputError, "chunk_size"),
    ("send a str", lambda t: t.send("hello"), InvalidInputError, "message"),
]


def _outcome(call: Callable[[], object]) -> tuple[str, str | None]:
    try:
        call()
    except InvalidInputError as exc:
        return type(exc).__name__, exc.field
    except TwoFactorError as exc:  # pragma: no cover - shown in the assertion
        return type(exc).__name__, None
    return "accepted", None


@pytest.mark.parametrize("cls", core_transport_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("what", "call", "error", "field"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
def test_every_transport_refuses_the_same_input_alike(
    make_any_transport: Callable[[type[Transport]], tuple[Transport, RecordingPlugin]],
    emulator: Emulator,
    cls: type[Transport],
    what: str,
    call: Callable[[Any], object],
    error: type[InvalidInputError],
    field: str,
) -> None:
    transport, plugin = make_any_transport(cls)
    assert _outcome(lambda: call(transport)) == (error.__name__, field)
    assert plugin.before == [] and plugin.after == []  # refused before any hook
    assert getattr(transport, "outbox", []) == []
    assert emulator.requests == []


def test_the_core_transports_are_all_found() -> None:
    names = {c.__name__ for c in core_transport_classes()}
    assert {"TwoFactorTransport", "InMemoryTransport", "ConsoleTransport", "NullTransport"} <= names


# The client called directly: the same definitions run, the same refusals come out.
CLIENT_CALLS: list[
    tuple[str, Callable[[TwoFactorClient], object], type[InvalidInputError], str]
] = [
    ("empty text", lambda c: c.send_sms(PHONE, "", sender="TFACTR"), InvalidInputError, "text"),
    (
        "long sender",
        lambda c: c.send_sms(PHONE, "hi", sender="TOOLONG1"),
        InvalidInputError,
        "sender",
    ),
    (
        "surrogate",
        lambda c: c.send_sms(PHONE, "\udc00", sender="TFACTR"),
        InvalidInputError,
        "text",
    ),
    ("short otp", lambda c: c.send_otp(PHONE, otp="12"), OTPError, "otp"),
    ("path template", lambda c: c.send_otp(PHONE, template="../x"), InvalidInputError, "template"),
    (
        "path session",
        lambda c: c.verify_otp("1234", session_id="../x"),
        InvalidInputError,
        "session_id",
    ),
    ("extension", lambda c: c.send_otp("+1 202 555 0143x"), InvalidPhoneNumberError, "phone"),
    (
        "encrypted empty",
        lambda c: c.send_sms_encrypted(PHONE, "", sender="TFACTR"),
        InvalidInputError,
        "text",
    ),
    (
        "message object",
        lambda c: c.send_message(SMSMessage(to=(PHONE,), text="hi", sender="")),
        InvalidInputError,
        "sender",
    ),
    ("bulk of ints", lambda c: c.send_bulk([1]), InvalidInputError, "messages"),
    ("chunk not a list", lambda c: c.send_bulk_chunk(iter([])), InvalidInputError, "messages"),
]


@pytest.mark.parametrize(
    ("what", "call", "error", "field"), CLIENT_CALLS, ids=[c[0] for c in CLIENT_CALLS]
)
def test_the_client_alone_refuses_before_any_request(
    client: TwoFactorClient,
    emulator: Emulator,
    what: str,
    call: Callable[[TwoFactorClient], object],
    error: type[InvalidInputError],
    field: str,
) -> None:
    assert _outcome(lambda: call(client)) == (error.__name__, field)
    assert emulator.requests == []


@pytest.mark.parametrize("cls", core_transport_classes(), ids=lambda c: c.__name__)
def test_bad_bulk_items_are_the_same_rejections_everywhere(
    make_any_transport: Callable[[type[Transport]], tuple[Transport, RecordingPlugin]],
    cls: type[Transport],
) -> None:
    transport, plugin = make_any_transport(cls)
    items: list[Any] = [
        BulkMessage(to=PHONE, text="ok", sender="TFACTR"),
        BulkMessage(to=PHONE, text="", sender="TFACTR"),
        {"to": PHONE, "text": "from a mapping", "sender": "TFACTR"},
        {"to": 9876543210, "text": "int number", "sender": "TFACTR"},
        BulkMessage(to=PHONE, text="ok", sender="TOOLONG1"),
        BulkMessage(to="+1 202 555 0143x", text="ok", sender="TFACTR"),
        BulkMessage(to=PHONE, text="ok", sender="TFACTR", callback_format="xml"),
    ]
    result = transport.send_bulk(items)
    assert [a.index for a in result.accepted] == [0, 2]
    assert [(r.index, r.reason.split(":")[0]) for r in result.rejected] == [
        (1, "text"),
        (3, "phone"),
        (4, "sender"),
        (5, "phone"),
        (6, "callback_format"),
    ]
    # the hooks saw only what may go, as one batch of two
    assert [len(m.messages) for m in plugin.before] == [2]


def test_a_wrong_item_type_in_a_list_stops_the_bulk_send_before_anything_goes(
    make_any_transport: Callable[[type[Transport]], tuple[Transport, RecordingPlugin]],
    emulator: Emulator,
) -> None:
    transport, plugin = make_any_transport(TwoFactorTransport)
    items: list[Any] = [BulkMessage(to=PHONE, text="ok", sender="TFACTR")] * 1500 + ["oops"]
    with pytest.raises(InvalidInputError, match="bulk message 1500 is a str") as info:
        transport.send_bulk(items)
    assert info.value.field == "messages"
    assert plugin.before == [] and emulator.requests == []


def test_a_plugin_that_changes_the_kind_of_message_gets_a_clear_error() -> None:
    class OTPToSMS:
        @hookimpl
        def before_send(self, message: Any, transport: Transport) -> Any:
            if isinstance(message, OTPMessage):
                return SMSMessage(to=(message.to,), text="hi", sender="TFACTR")
            return None

    transport = InMemoryTransport(plugins=[OTPToSMS()], load_entrypoints=False)
    with pytest.raises(ConfigurationError, match="OTPMessage into a SMSMessage") as info:
        transport.send_otp(PHONE)
    assert transport.outbox == []
    # named by its class, not by the number pluggy makes up for an unnamed object
    assert "OTPToSMS" in str(info.value)
    assert not re.search(r"plugin '\d+'", str(info.value))


def test_what_a_plugin_returns_is_checked_again() -> None:
    class EmptiesText:
        @hookimpl
        def before_send(self, message: Any, transport: Transport) -> Any:
            return SMSMessage(to=message.to, text="", sender=message.sender)

    transport = InMemoryTransport(plugins=[EmptiesText()], load_entrypoints=False)
    with pytest.raises(InvalidInputError) as info:
        transport.send_sms(PHONE, "hi", sender="TFACTR")
    assert info.value.field == "text" and transport.outbox == []


def test_check_message_is_the_public_check_and_normalises() -> None:
    checked = check_message(OTPMessage(to="098765 43210", otp="1234"))
    assert isinstance(checked, OTPMessage)
    assert (checked.to, checked.otp) == (PHONE, "1234")
    with pytest.raises(OTPError):  # a code is never trimmed (one rule for codes)
        check_message(OTPMessage(to=PHONE, otp=" 1234 "))
    with pytest.raises(InvalidInputError) as info:
        check_message(SMSMessage(to=(PHONE,), text="x" * 1001, sender="TFACTR"))
    assert info.value.field == "text"


def test_a_comma_joined_string_is_several_recipients_everywhere() -> None:
    transport = InMemoryTransport(load_entrypoints=False)
    sent = transport.send_sms("9876543210, 9123456780", "hi", sender="TFACTR")
    assert sent.to == (PHONE, "+919123456780")


def test_a_wrong_item_in_a_lazy_stream_stops_the_send_where_it_is_met() -> None:
    transport = InMemoryTransport(load_entrypoints=False)

    def stream() -> Any:
        for i in range(1001):
            yield BulkMessage(to=f"+9198{i:08d}", text=f"m{i}", sender="TFACTR")
        yield 42

    with pytest.raises(InvalidInputError, match="bulk message 1001 is a int") as info:
        transport.send_bulk(stream(), chunk_size=1000)
    assert info.value.field == "messages"
    # the first chunk went before the item was read; the error says so
    assert len(info.value.partial_result.accepted) == 1000
    assert [len(batch.messages) for batch in transport.outbox] == [1000]


@pytest.mark.parametrize("absent", [None, ""])
def test_only_none_or_empty_takes_the_default_sender_and_template(absent: Any) -> None:
    transport = InMemoryTransport(
        load_entrypoints=False, default_sender="TFACTR", default_template="Login"
    )
    transport.send_sms(PHONE, "hi", sender=absent)
    transport.send_otp(PHONE, template=absent)
    transport.send_bulk([{"to": PHONE, "text": "hi", "sender": absent}])
    sms, otp, batch = transport.outbox
    assert isinstance(sms, SMSMessage) and sms.sender == "TFACTR"
    assert isinstance(otp, OTPMessage) and otp.template == "Login"
    assert batch.messages[0].sender == "TFACTR"  # type: ignore[union-attr]


@pytest.mark.parametrize("wrong", [0, b"", False, []])
def test_a_falsy_wrong_value_is_refused_not_taken_for_the_default(wrong: Any) -> None:
    transport = InMemoryTransport(
        load_entrypoints=False, default_sender="TFACTR", default_template="Login"
    )
    with pytest.raises(InvalidInputError) as sms:
        transport.send_sms(PHONE, "hi", sender=wrong)
    with pytest.raises(InvalidInputError) as otp:
        transport.send_otp(PHONE, template=wrong)
    result = transport.send_bulk([BulkMessage(to=PHONE, text="hi", sender=wrong)])
    assert (sms.value.field, otp.value.field) == ("sender", "template")
    assert [r.reason.split(":")[0] for r in result.rejected] == ["sender"]
    assert transport.outbox == []


def test_long_or_non_string_callback_values_are_rejections() -> None:
    transport = InMemoryTransport(load_entrypoints=False)
    result = transport.send_bulk(
        [
            BulkMessage(to=PHONE, text="hi", sender="TFACTR", callback_value1="x" * 257),
            BulkMessage(to=PHONE, text="hi", sender="TFACTR", callback_value2=7),  # type: ignore[arg-type]
            BulkMessage(to=PHONE, text="hi", sender="TFACTR", callback_value1="x" * 256),
        ]
    )
    assert [(r.index, r.reason.split(":")[0]) for r in result.rejected] == [
        (0, "callback_value1"),
        (1, "callback_value2"),
    ]
    assert [a.index for a in result.accepted] == [2]


def test_transport_check_fills_defaults_and_refuses_like_send() -> None:
    transport = InMemoryTransport(load_entrypoints=False, default_sender="TFACTR")
    checked = transport.check(SMSMessage(to=("09876543210",), text="hi", sender=""))
    assert isinstance(checked, SMSMessage)
    assert (checked.to, checked.sender) == ((PHONE,), "TFACTR")
    with pytest.raises(InvalidInputError) as info:
        transport.check(SMSMessage(to=(PHONE,), text="", sender=""))
    assert info.value.field == "text" and transport.outbox == []


@settings(max_examples=60, deadline=None)
@given(
    number=st.sampled_from(["+1 202 555 0143", "+91 98765 43210", "9876543210"]),
    tail=st.sampled_from(["x", "x12", " ext. 12", " ext 12", "#12", ";ext=1", ",12", "*"])
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyz#;*/!?_", min_size=1, max_size=6),
)
def test_nothing_may_follow_a_number_on_any_path(number: str, tail: str) -> None:
    # normalize_phone is what every adapter's number field uses (the Django login form,
    # the otp device, Flask's phone login), and what the checks use: one rule
    with pytest.raises(InvalidPhoneNumberError):
        normalize_phone(number + tail)
    with pytest.raises(InvalidPhoneNumberError):
        check_message(OTPMessage(to=number + tail))


def _failure_outcomes(transport: Transport, last_otp: Callable[[str], str | None]) -> list[str]:
    sent = transport.send_otp(PHONE)
    code = last_otp(PHONE)
    assert code is not None
    outcomes = [transport.verify_otp(code, session_id=sent.session_id).outcome.value]
    outcomes.append(transport.verify_otp(code, session_id=sent.session_id).outcome.value)
    outcomes.append(transport.verify_otp(code, phone=PHONE).outcome.value)  # used, by number
    outcomes.append(transport.verify_otp(code, phone="+919123456780").outcome.value)  # none sent
    outcomes.append(transport.verify_otp(code, session_id="no-such-session").outcome.value)
    return outcomes


def _verifying_doubles() -> list[type[Transport]]:
    """The core transports that keep the OTPs they "send" (``last_otp``) and verify them."""
    doubles = [c for c in core_transport_classes() if hasattr(c, "last_otp")]
    assert doubles
    return doubles


@pytest.mark.parametrize("cls", _verifying_doubles(), ids=lambda c: c.__name__)
def test_every_verifying_double_fails_as_the_emulator_does(
    make_any_transport: Callable[[type[Transport]], tuple[Transport, RecordingPlugin]],
    emulator: Emulator,
    cls: type[Transport],
) -> None:
    """Re-verifying a used code, VERIFY3 for a number sent nothing, an unknown session: a
    test double answers what 2Factor (the emulator, which follows the spec) answers."""
    real, _ = make_any_transport(TwoFactorTransport)
    expected = _failure_outcomes(real, emulator.last_otp)
    transport, _ = make_any_transport(cls)
    assert _failure_outcomes(transport, transport.last_otp) == expected  # type: ignore[attr-defined]
