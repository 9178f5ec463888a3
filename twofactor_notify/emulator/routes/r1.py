"""``/API/R1/``: transactional (``TRANS_SMS``) and promotional (``PROMO_SMS``) SMS.

Parameters come from the query string and/or a url-encoded body (the body wins), by POST
or GET as the reference's "Read More" examples show (``module=ENC`` requests go to
:mod:`.encrypted` instead; the router decides). The reference only documents
``ERR_DETAILS_GO_HERE`` for errors; the emulator's error strings are listed in
:data:`ERRORS` and in ``docs/emulator.md``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from twofactor_notify.validation import MAX_TEXT_LENGTH, MIN_SCHEDULE_AHEAD

from ..clock import parse_ist
from ..context import Context
from ..ids import new_r1_id
from ..numbers import parse_r1_phone
from ..state import Account, MessageRecord
from ..wire import Request, Response, api_error, json_response

__all__ = ["ERRORS", "R1Error", "accept_sms", "handle"]

#: Every error ``Details`` of R1 (``{}`` is filled in with the offending value).
ERRORS = {
    "module": "Invalid Module - Expected TRANS_SMS or PROMO_SMS",
    "missing": "Missing Parameter - {}",
    "apikey": "Invalid API Key",
    "phone": "Invalid Phone Number - {} (Expected: 91XXXXXXXXXX)",
    "sender": "Invalid Sender Id - Expected 1 to 6 letters or digits",
    "too_long": "Message Too Long - {} characters (Maximum: 1000)",
    "schedule_format": "Invalid Schedule Time - Expected YYYY-MM-DD HH:MM:SS (IST)",
    "schedule_soon": "Invalid Schedule Time - Must be at least 5 minutes after the current time",
    "dlt": "Invalid {} - Expected the DLT id's digits",
    "url": "Invalid {} - Expected an absolute http(s) URL",
    "shortenurl": "Invalid shortenurl - Expected 1 or 0",
    "method": "HTTP {} is not supported on this endpoint",
}

_SENDER = re.compile(r"[A-Za-z0-9]{1,6}")
_DLT_ID = re.compile(r"[0-9]{1,30}")
_MODULES = {"TRANS_SMS": "transactional", "PROMO_SMS": "promotional"}


class R1Error(Exception):
    """A request R1 refuses; ``details`` is the ``Details`` string of the 400 answer."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


def handle(request: Request, ctx: Context) -> Response:
    """Answer one ``/API/R1/`` request."""
    if request.method not in ("GET", "POST"):
        return api_error(ERRORS["method"].format(request.method), 405)
    params = request.form_params() if request.method == "POST" else request.query_params()
    try:
        message_id = accept_sms(params, ctx)
    except R1Error as exc:
        return api_error(exc.details)
    return json_response(200, {"Status": "Success", "Details": message_id})


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value.strip():
        raise R1Error(ERRORS["missing"].format(name))
    return value


def _optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    return value or None


def _url(params: Mapping[str, str], name: str) -> str | None:
    value = _optional(params, name)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise R1Error(ERRORS["url"].format(name))
    return value


def accept_sms(
    params: Mapping[str, str],
    ctx: Context,
    *,
    account: Account | None = None,
    modules: tuple[str, ...] = ("TRANS_SMS", "PROMO_SMS"),
    encrypted: bool = False,
) -> str:
    """Validate an R1 send, record its messages and plan their reports; returns its id.

    :param account: the account already established (encrypted endpoint), else the
        ``apikey`` parameter's.
    :raises R1Error: with the ``Details`` to answer.
    """
    module = params.get("module", "")
    if module not in modules:
        raise R1Error(ERRORS["module"])
    api_key = _required(params, "apikey")
    found = ctx.state.account(api_key)
    if found is None or (account is not None and found is not account):
        raise R1Error(ERRORS["apikey"])
    recipients = []
    for entry in _required(params, "to").split(","):
        e164 = parse_r1_phone(entry)
        if e164 is None:
            raise R1Error(ERRORS["phone"].format(entry.strip()))
        recipients.append(e164)
    sender = _required(params, "from")
    if not _SENDER.fullmatch(sender):
        raise R1Error(ERRORS["sender"])
    text = _required(params, "msg")
    if len(text) > MAX_TEXT_LENGTH:
        raise R1Error(ERRORS["too_long"].format(len(text)))
    now = time.time()
    scheduled_for = None
    schedule_text = _optional(params, "scheduletime")
    if schedule_text is not None:
        scheduled_for = parse_ist(schedule_text)
        if scheduled_for is None:
            raise R1Error(ERRORS["schedule_format"])
        if scheduled_for - now < MIN_SCHEDULE_AHEAD.total_seconds():
            raise R1Error(ERRORS["schedule_soon"])
    dlt = {}
    for name in ("peid", "ctid"):
        value = _optional(params, name)
        if value is not None and not _DLT_ID.fullmatch(value):
            raise R1Error(ERRORS["dlt"].format(name))
        dlt[name] = value
    campaign_webhook = _url(params, "campaignwebhook")
    shorten_url_webhook = _url(params, "shortenurlwebhook")
    shorten = _optional(params, "shortenurl")
    if shorten not in (None, "0", "1"):
        raise R1Error(ERRORS["shortenurl"])

    message_id = new_r1_id()
    if found.sandbox:
        # Sandbox: "No actual SMS sent". The request is checked as in production (the
        # sandbox section documents the OTP endpoints only), nothing is recorded or reported.
        return message_id
    sent_at = scheduled_for if scheduled_for is not None else now
    status_at = sent_at + ctx.state.delivery_delay
    callback_url = ctx.state.callback_url_for(found)
    kind = _MODULES[module]
    campaign_name = _optional(params, "campaignname")
    shorten_url_callback = _optional(params, "shortenurlcallback")
    records = [
        MessageRecord(
            message_id,
            kind,
            e164,
            found.label,
            now,
            sender,
            text,
            scheduled_for=scheduled_for,
            pe_id=dlt["peid"],
            ct_id=dlt["ctid"],
            campaign_name=campaign_name,
            campaign_webhook=campaign_webhook,
            shorten_url=shorten == "1",
            shorten_url_webhook=shorten_url_webhook,
            shorten_url_callback=shorten_url_callback,
            encrypted=encrypted,
            outcome=ctx.state.outcomes.pick(e164),
            status_at=status_at,
            callback_url=callback_url,
        )
        for e164 in recipients
    ]
    ctx.state.record(records)
    ctx.deliveries.schedule(records)
    return message_id
