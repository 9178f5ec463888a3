"""``/API/V1/{api_key}/SMS/...``: send OTPs (AUTOGEN, AUTOGEN2, AUTOGEN3, custom, template)
and verify them (VERIFY, VERIFY2, VERIFY3), as the reference and its sandbox section show.

An account in sandbox mode gets the sandbox section's dummy answers instead (see
:func:`sandbox_answer`).
"""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import unquote

from ..context import Context
from ..ids import new_sandbox_session_id
from ..numbers import parse_v1_phone
from ..state import Account, MessageRecord, VerifyResult
from ..wire import Request, Response, api_error, json_response

__all__ = [
    "INVALID_API_KEY",
    "INVALID_OTP_LENGTH",
    "INVALID_PHONE_LENGTH",
    "SANDBOX_OTP",
    "SANDBOX_SESSION",
    "handle",
    "sandbox_answer",
]

INVALID_API_KEY = "Invalid API Key"
INVALID_PHONE_LENGTH = "Invalid Phone Number - Length Mismatch(Expected: 10)"
INVALID_OTP_LENGTH = "Invalid OTP Code - Length Mismatch(Expected: 4-6)"
#: The sandbox section's fixed success case: ``VERIFY/Dummy-12345/12345``.
SANDBOX_SESSION = "Dummy-12345"
SANDBOX_OTP = "12345"

_OTP = re.compile(r"[0-9]{4,6}")
_DIGITS = re.compile(r"[0-9]+")
_AUTOGEN_LENGTH = {"AUTOGEN": 6, "AUTOGEN2": 6, "AUTOGEN3": 4}
_VERIFY = ("VERIFY", "VERIFY2", "VERIFY3")


def _not_found() -> Response:
    return api_error("Invalid Request - Unknown API Endpoint", 404)


def handle(request: Request, ctx: Context) -> Response:
    """Answer one ``/API/V1/`` request."""
    # "", "API", "V1", key, "SMS", ...
    parts = [unquote(part) for part in request.path.split("/")]
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) < 5 or parts[4] != "SMS":
        return _not_found()
    if request.method != "GET":
        return api_error(f"HTTP {request.method} is not supported on this endpoint", 405)
    account = ctx.state.account(parts[3])
    if account is None:
        return api_error(INVALID_API_KEY)
    rest = parts[5:]
    if not rest:
        return _not_found()
    if account.sandbox:
        return sandbox_answer(rest)
    if rest[0] in _VERIFY:
        if len(rest) != 3:
            return _not_found()
        return _verify(ctx, account, rest[0], rest[1], rest[2])
    return _send(ctx, account, rest)


def sandbox_answer(rest: list[str]) -> Response:
    """The answer of a sandbox account to ``/SMS/{rest...}``, as the sandbox section says.

    * every send (``{phone}/AUTOGEN[/{template}]``, ``AUTOGEN2``, ``AUTOGEN3``,
      ``{phone}/{otp}[/{template}]``, ``{phone}/{template}``): ``"Status": "Success"`` with a
      new random session id of the section's form, plus a random 6-digit ``"OTP"`` for
      AUTOGEN2 ("Status: Always "Success" in sandbox"). Nothing is recorded or delivered
      ("No actual SMS sent"), so the number is not checked;
    * ``VERIFY/Dummy-12345/12345``: ``{"Status": "Success", "Details": "OTP Matched"}``;
      every other VERIFY, every VERIFY2 and every VERIFY3: ``"OTP Mismatch"`` ("Only
      Dummy-12345/12345 returns success for VERIFY"; "VERIFY2 endpoints always return "OTP
      Mismatch" in sandbox mode");
    * all with HTTP 200: "All sandbox endpoints return HTTP 200 with JSON response body.
      Check the Status field in the response to determine success or failure".

    Paths that are no endpoint at all still answer 404.
    """
    if rest[0] in _VERIFY:
        if len(rest) != 3:
            return _not_found()
        if rest[0] == "VERIFY" and rest[1] == SANDBOX_SESSION and rest[2] == SANDBOX_OTP:
            return json_response(200, {"Status": "Success", "Details": "OTP Matched"})
        return json_response(200, {"Status": "Error", "Details": VerifyResult.MISMATCH.value})
    if len(rest) not in (2, 3):
        return _not_found()
    body = {"Status": "Success", "Details": new_sandbox_session_id()}
    if rest[1] == "AUTOGEN2":
        body["OTP"] = _random_otp(6)
    return json_response(200, body)


def _send(ctx: Context, account: Account, rest: list[str]) -> Response:
    phone = parse_v1_phone(rest[0])
    if phone is None:
        return api_error(INVALID_PHONE_LENGTH)
    if len(rest) < 2 or len(rest) > 3:
        return _not_found()
    second = rest[1]
    template = rest[2] if len(rest) == 3 else None
    include_otp = False
    if second in _AUTOGEN_LENGTH:
        otp = _random_otp(_AUTOGEN_LENGTH[second])
        include_otp = second == "AUTOGEN2"
    elif len(rest) == 3 or _DIGITS.fullmatch(second):
        if not _OTP.fullmatch(second):
            return api_error(INVALID_OTP_LENGTH)
        otp = second
    else:
        # /SMS/{phone}/{template}: the sandbox section's template send; 2Factor fills the
        # template's OTP placeholder, so the emulator generates a 6-digit OTP.
        template = second
        otp = _random_otp(6)
    session = ctx.state.open_session(account, phone, otp)
    now = time.time()
    record = MessageRecord(
        session.session_id,
        "otp",
        phone,
        account.label,
        now,
        text=f"Your OTP is {otp}",
        otp=otp,
        template=template,
        outcome=ctx.state.outcomes.pick(phone),
        status_at=now + ctx.state.delivery_delay,
    )
    ctx.state.record((record,))
    body = {"Status": "Success", "Details": session.session_id}
    if include_otp:
        body["OTP"] = otp
    return json_response(200, body)


def _random_otp(length: int) -> str:
    return f"{secrets.randbelow(10**length):0{length}d}"


def _verify(ctx: Context, account: Account, mode: str, target: str, otp: str) -> Response:
    if mode == "VERIFY2":
        # The sandbox note: VERIFY2 always answers a mismatch, for testing error handling.
        return api_error(VerifyResult.MISMATCH.value)
    if mode == "VERIFY3":
        phone = parse_v1_phone(target)
        if phone is None:
            return api_error(INVALID_PHONE_LENGTH)
        result = ctx.state.verify_phone(account, phone, otp)
    elif target == SANDBOX_SESSION:
        if otp == SANDBOX_OTP:
            return json_response(200, {"Status": "Success", "Details": "OTP Matched"})
        result = VerifyResult.MISMATCH
    else:
        result = ctx.state.verify_session(account, target, otp)
    if result is VerifyResult.MATCHED:
        status = "Success" if ctx.sandbox_style_success else "Error"
        return json_response(200, {"Status": status, "Details": result.value})
    return api_error(result.value)
