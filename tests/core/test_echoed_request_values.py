"""A server or proxy that echoes a request back cannot put its numbers or OTP in an error.

2Factor (or a gateway in front of it) may repeat the request in an error's ``Details``: the
V1 path with the number and the OTP, the R1 form with ``to=91…``, the Bulk JSON with
``smsTo``. The client hides the values of each request it makes in whatever it builds from
the answer. The public API is discovered (the calls of ``test_secrets_at_the_boundary``),
each call made against the emulator's ``echo`` fault, and the raised error's text, repr,
details and attributes searched for every form of the number and for the OTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from twofactor_notify import TwoFactorClient, TwoFactorError
from twofactor_notify.emulator import Emulator

from .test_secrets_at_the_boundary import CALLS, VALUES, Call, _arguments, _client, _target

OTP = "482913"
NUMBER = "9876543210"
#: The forms a number takes on the wire or in an echo of it.
NUMBER_FORMS = (NUMBER, "91" + NUMBER, "+91" + NUMBER, "%2B91" + NUMBER)
#: VALUES with an OTP of our own for the calls that take one.
ECHO_VALUES: dict[str, Any] = {**VALUES, "otp": OTP, "code": OTP}


def _invoke(target: Any, call: Call) -> BaseException | None:
    method = getattr(target, call.method)
    chosen = call.chosen or None
    args, kwargs = _arguments(method.__func__, chosen, str(call), ECHO_VALUES)
    try:
        result = method(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    except BaseException as exc:
        return exc
    return None


def _shown(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(vars(error))]
    if isinstance(error, TwoFactorError):
        parts.append(str(error.details))
    return " ".join(parts)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_an_echoed_number_or_otp_is_hidden_in_every_error(emulator: Emulator, call: Call) -> None:
    emulator.inject("echo")
    with _client(emulator.url, emulator) as client:
        error = _invoke(_target(call, client), call)
    emulator.clear_faults()
    if error is None:
        return  # nothing raised (an in-memory transport, close())
    assert isinstance(error, TwoFactorError), f"{call} raised {error!r}"
    shown = _shown(error)
    for form in NUMBER_FORMS:
        assert form not in shown, f"{call}: number {form} in {shown}"
    assert OTP not in shown, f"{call}: the OTP in {shown}"


def test_the_echo_reached_the_error_masked(emulator: Emulator) -> None:
    """A guard on the guard: the echo is there, masked, not merely dropped."""
    emulator.inject("echo")
    with _client(emulator.url, emulator) as client:
        sent = _invoke(client, Call(TwoFactorClient, "send_otp"))
        form = _invoke(client, Call(TwoFactorClient, "send_sms"))
    assert isinstance(sent, TwoFactorError) and isinstance(form, TwoFactorError)
    assert f"******{NUMBER[-4:]}/<otp>" in (sent.details or "")
    assert f"to=******{NUMBER[-4:]}" in (form.details or "")


@pytest.mark.parametrize("status", [200, 400])
def test_a_verification_detail_echoing_the_code_is_hidden(emulator: Emulator, status: int) -> None:
    body = json.dumps({"Status": "Error", "Details": f"OTP Mismatch for {OTP} (91{NUMBER})"})
    emulator.inject("status", status=status, body=body)
    with _client(emulator.url, emulator) as client:
        result = client.verify_otp(OTP, phone=NUMBER)
    assert OTP not in result.details and NUMBER not in result.details
    assert "<otp>" in result.details
