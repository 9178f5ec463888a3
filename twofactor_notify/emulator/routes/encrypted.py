"""``POST /API/R1/?module=ENC&encmode=GCM|CBC``: the encrypted send and delivery lookup.

The body is the codec's Base64 text of a JSON payload, encrypted with the account's secret
key, which also travels in the ``Secret-Key`` header. Success answers are encrypted the
same way (``text/plain``); errors are plaintext JSON with HTTP 400, as the reference says.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from twofactor_notify.codec import AESCodec, EncryptionMode
from twofactor_notify.errors import DecryptionError

from ..clock import IST, format_ist
from ..context import Context
from ..state import PENDING, Account
from ..wire import Request, Response, api_error, text_response
from .r1 import R1Error, accept_sms

__all__ = ["ERRORS", "handle"]

#: Every error ``Details`` of the encrypted endpoint.
ERRORS = {
    "get": "HTTP GET is not supported on this endpoint",
    "method": "HTTP {} is not supported on this endpoint",
    "secret_missing": "Secret-Key is missing in the request header",
    "encmode": "Invalid encmode - Expected GCM or CBC",
    "secret_unknown": "Decryption failed - the Secret-Key is not valid",
    "decrypt": "Decryption failed - the payload could not be decrypted with the Secret-Key "
    "(encmode {})",
    "payload": "Decryption failed - the decrypted payload is not a JSON object",
    "module": "Invalid Module - Expected TRANS_SMS or TRANS_SMS_DLR",
    "apikey": "Invalid API Key",
    "missing": "Missing Parameter - {}",
    "smsdate": "Invalid smsdate - Expected YYYY-MM-DD",
}


def handle(request: Request, ctx: Context) -> Response:
    """Answer one ``module=ENC`` request."""
    if request.method == "GET":
        return api_error(ERRORS["get"])
    if request.method != "POST":
        return api_error(ERRORS["method"].format(request.method))
    secret = (request.header("Secret-Key") or "").strip()
    if not secret:
        return api_error(ERRORS["secret_missing"])
    mode = (request.query_params().get("encmode") or "CBC").upper()
    if mode not in ("GCM", "CBC"):
        return api_error(ERRORS["encmode"])
    encmode: EncryptionMode = "GCM" if mode == "GCM" else "CBC"
    account = ctx.state.account_by_secret(secret)
    if account is None:
        return api_error(ERRORS["secret_unknown"])
    codec = AESCodec(secret, encmode)
    try:
        plaintext = codec.decrypt(request.body.decode("ascii"))
        payload = json.loads(plaintext)
    except (DecryptionError, UnicodeDecodeError):
        return api_error(ERRORS["decrypt"].format(encmode))
    except ValueError:
        return api_error(ERRORS["payload"])
    if not isinstance(payload, dict):
        return api_error(ERRORS["payload"])
    params = {str(k): "" if v is None else str(v) for k, v in payload.items()}
    module = params.get("module", "")
    if module == "TRANS_SMS":
        try:
            message_id = accept_sms(
                params, ctx, account=account, modules=("TRANS_SMS",), encrypted=True
            )
        except R1Error as exc:
            return api_error(exc.details)
        answer: dict[str, Any] = {"Status": "Success", "Details": message_id}
    elif module == "TRANS_SMS_DLR":
        if ctx.state.account(params.get("apikey", "")) is not account:
            return api_error(ERRORS["apikey"])
        try:
            answer = _delivery_status(ctx, account, params)
        except R1Error as exc:
            return api_error(exc.details)
    else:
        return api_error(ERRORS["module"])
    sealed = codec.encrypt(json.dumps(answer, separators=(",", ":")).encode("utf-8"))
    return text_response(200, sealed)


def _delivery_status(ctx: Context, account: Account, params: dict[str, str]) -> dict[str, Any]:
    session_id = params.get("sessionid", "").strip()
    if not session_id:
        raise R1Error(ERRORS["missing"].format("sessionid"))
    sms_date = params.get("smsdate", "").strip()
    if not sms_date:
        raise R1Error(ERRORS["missing"].format("smsdate"))
    try:
        day = datetime.strptime(sms_date, "%Y-%m-%d").date()
    except ValueError:
        raise R1Error(ERRORS["smsdate"]) from None
    found = [
        rec
        for rec in ctx.state.messages_by_id(session_id)
        if rec.account == account.label and datetime.fromtimestamp(rec.sent_at, IST).date() == day
    ]
    if not found:
        return {"Status": "Success", "Details": "No records found for the specified filters"}
    now = time.time()
    first = found[0]
    status = first.status(now)
    plural = "record" if len(found) == 1 else "records"
    return {
        "Status": "Success",
        "Details": f"{len(found)} {plural} found for the specified filters",
        "DeliveryStatus": status,
        "SentAt": format_ist(first.sent_at) if first.sent_at <= now else "",
        "DeliveredAt": format_ist(first.status_at) if status != PENDING else "",
    }
