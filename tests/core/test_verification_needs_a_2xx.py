"""A verification counts as matched only in a 2xx answer, on every verify path.

The verify methods are discovered (every public ``verify*`` method of the client and of the
transports that wrap one, each way of calling it), so a new variant is covered. Each gets an
answer whose body says "OTP Matched" (in the reference's ``Status: Error`` style and the
sandbox's ``Status: Success`` style) with a redirect or error status: each must raise
:class:`InvalidResponseError`, never return a match. The same body with 200 matches (control).
"""

from __future__ import annotations

import inspect
import json

import pytest

from twofactor_notify import InvalidResponseError, TwoFactorClient
from twofactor_notify.emulator import Emulator

from .test_secrets_at_the_boundary import CALLS, Call, _client, _invoke, _target

VERIFY_CALLS = [
    call
    for call in CALLS
    if call.method.startswith("verify")
    and (
        call.owner is TwoFactorClient
        or "client" in inspect.signature(call.owner.__init__).parameters
    )
]
STYLES = {"reference": "Error", "sandbox": "Success"}


def _answer(emulator: Emulator, status: int, style: str) -> None:
    body = json.dumps({"Status": STYLES[style], "Details": "OTP Matched"})
    emulator.inject(
        "status", status=status, body=body, content_type="application/json", match="/VERIFY"
    )


def test_every_verify_path_is_found() -> None:
    names = {str(c) for c in VERIFY_CALLS}
    assert {
        "TwoFactorClient.verify_otp[session_id]",
        "TwoFactorClient.verify_otp[phone]",
        "TwoFactorClient.verify_otp_sandbox",
        "TwoFactorTransport.verify_otp[session_id]",
        "TwoFactorTransport.verify_otp[phone]",
    } <= names


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 400, 401, 403, 404, 409, 422])
@pytest.mark.parametrize("call", VERIFY_CALLS, ids=str)
def test_a_match_outside_a_2xx_answer_is_an_invalid_response(
    emulator: Emulator, call: Call, status: int, style: str
) -> None:
    _answer(emulator, status, style)
    with _client(emulator.url, emulator, timeout=10.0) as client:
        error = _invoke(_target(call, client), call)
    assert isinstance(error, InvalidResponseError), f"{call} with HTTP {status}: {error!r}"
    assert error.status == status


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("call", VERIFY_CALLS, ids=str)
def test_the_same_answer_with_200_is_a_match(emulator: Emulator, call: Call, style: str) -> None:
    _answer(emulator, 200, style)
    with _client(emulator.url, emulator, timeout=10.0) as client:
        target = _target(call, client)
        method = getattr(target, call.method)
        if call.chosen:
            kwargs = {name: "9876543210" if name == "phone" else SESSION for name in call.chosen}
        else:
            kwargs = {"session_id": SESSION}
        verification = method("123456", **kwargs)
    assert verification.matched


SESSION = "7d3c5f0e-2b1a-4c6d-9e8f-0a1b2c3d4e5f"
