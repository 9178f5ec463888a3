"""Incoming webhooks, framework-free: delivery reports and click-tracking callbacks.

2Factor does not sign its webhooks, so the callback URL you register carries a shared token
(``https://example.com/twofactor/delivery/?token=…``) and :func:`check_token` compares it in
constant time. The framework adapters (Django views, Flask blueprint) are thin wrappers around
:class:`WebhookReceiver`.

Payloads accepted:

* delivery report, JSON (``{"SessionId": …, "SmsFrom": …, "SmsTo": …, "SmsStatus": …,
  "SentAt": …, "StatusAt": …, "callback_value1": …, "callback_value2": …}``), one object or a
  list of them, or the same fields ``raw-url-encoded``;
* click report, form-encoded (``accessed=…&phoneNo=…&campaignName=…&ip=…``) or JSON.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .errors import InvalidPhoneNumberError, WebhookError
from .models import ClickReport, DeliveryReport, DeliveryStatus
from .phone import normalize_phone
from .validation import IST

if TYPE_CHECKING:
    from .transport import Transport

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "TOKEN_HEADER",
    "TOKEN_PARAM",
    "DuplicateFilter",
    "WebhookReceiver",
    "check_token",
    "parse_click_report",
    "parse_delivery_reports",
]

#: Largest body accepted (a report is a few hundred bytes; a list of 100 fits easily).
MAX_WEBHOOK_BYTES = 64 * 1024
#: Where the shared token may come: the query string parameter, or this header.
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "X-TwoFactor-Token"  # noqa: S105 - a header name
_MAX_REPORTS = 500
_MAX_FIELD = 256
_YEARS = (2000, 2100)
_INDIAN_MOBILE = re.compile(r"[6-9][0-9]{9}")
_STRICT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def check_token(given: str | None, expected: str | None) -> None:
    """Raise :class:`WebhookError` (403) unless ``given`` equals ``expected``.

    Compared in constant time. An unset ``expected`` refuses everything: a webhook without a
    token would let anyone forge delivery reports.
    """
    if not expected:
        raise WebhookError("webhook token is not configured", http_status=403)
    if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise WebhookError("webhook token is missing or wrong", http_status=403)


def _check_size(body: bytes) -> None:
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookError(
            f"webhook body is larger than {MAX_WEBHOOK_BYTES} bytes", http_status=413
        )


def _records(body: bytes, content_type: str | None) -> list[Mapping[str, Any]]:
    _check_size(body)
    if not body.strip():
        raise WebhookError("webhook body is empty")
    kind = (content_type or "").split(";")[0].strip().lower()
    text_start = body.lstrip()[:1]
    if kind.endswith("json") or (not kind.endswith("urlencoded") and text_start in (b"{", b"[")):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # Recursion: absurd nesting
            raise WebhookError("webhook body is not valid JSON") from None
        items = data if isinstance(data, list) else [data]
        if not items or len(items) > _MAX_REPORTS:
            raise WebhookError(f"webhook body must hold 1 to {_MAX_REPORTS} reports")
        if not all(isinstance(i, Mapping) for i in items):
            raise WebhookError("webhook JSON must be an object or a list of objects")
        return items
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("webhook body is neither JSON nor url-encoded") from None
    return [dict(pairs)]


def _text(record: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise WebhookError(f"webhook report has no {key}")
        return ""
    if not isinstance(value, str | int):
        raise WebhookError(f"webhook field {key} must be text")
    text = str(value)
    if len(text) > _MAX_FIELD:
        raise WebhookError(f"webhook field {key} is too long")
    if not text.isprintable():
        # NUL and other control characters: no real report has them, and databases refuse
        # some of them (PostgreSQL text cannot hold NUL).
        raise WebhookError(f"webhook field {key} has control characters")
    return text


def _time(record: Mapping[str, Any], key: str) -> datetime | None:
    text = _text(record, key)
    if not text:
        return None
    try:
        if _STRICT_TIME.fullmatch(text):
            # The form 2Factor sends: fromisoformat reads it ~50x faster than strptime and
            # fails (ValueError) on the same out-of-range values.
            when = datetime.fromisoformat(text)
        else:
            when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise WebhookError(f"webhook field {key} is not a 'YYYY-MM-DD HH:MM:SS' time") from None
    if not _YEARS[0] <= when.year <= _YEARS[1]:
        # Year 1 or 9999 parse, then overflow when converted to UTC or stored.
        raise WebhookError(f"webhook field {key} is out of range ({when.year})")
    return when.replace(tzinfo=IST)


def _phone(raw: str) -> str:
    if not raw:
        return ""
    # Fast path for what 2Factor sends (an Indian mobile, 10 digits): libphonenumber costs
    # tens of microseconds a number and gives "+91" + the digits for every such number.
    if _INDIAN_MOBILE.fullmatch(raw):
        return "+91" + raw
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumberError:
        return raw  # keep what 2Factor sent; a report is never dropped for its number's form


def parse_delivery_reports(body: bytes, content_type: str | None = None) -> list[DeliveryReport]:
    """Parse a delivery-report body (JSON object or list, or url-encoded) into reports.

    Raises :class:`WebhookError` (400, or 413 when too large) for anything malformed.
    """
    reports = []
    for record in _records(body, content_type):
        raw_status = _text(record, "SmsStatus", required=True)
        reports.append(
            DeliveryReport(
                message_id=_text(record, "SessionId", required=True),
                status=DeliveryStatus.parse(raw_status),
                raw_status=raw_status,
                to=_phone(_text(record, "SmsTo")),
                sender=_text(record, "SmsFrom"),
                sent_at=_time(record, "SentAt"),
                status_at=_time(record, "StatusAt"),
                callback_value1=_text(record, "callback_value1") or None,
                callback_value2=_text(record, "callback_value2") or None,
            )
        )
    return reports


def parse_click_report(body: bytes, content_type: str | None = None) -> ClickReport:
    """Parse a click-tracking callback (``accessed``, ``phoneNo``, ``campaignName``, ``ip``)."""
    records = _records(body, content_type)
    if len(records) != 1:
        raise WebhookError("a click callback holds exactly one click")
    record = records[0]
    return ClickReport(
        phone=_phone(_text(record, "phoneNo", required=True)),
        campaign_name=_text(record, "campaignName"),
        accessed_at=_time(record, "accessed"),
        ip=_text(record, "ip"),
    )


class DuplicateFilter:
    """Remembers the last ``size`` report keys, to recognise a report delivered twice.

    In-process only; the Django adapter relies on a unique database constraint instead.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """True if ``key`` was seen before; records it otherwise."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._seen[key] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return False


class _Default:
    """Marks "no argument given" where ``None`` has a meaning of its own."""


_DEFAULT = _Default()


class WebhookReceiver:
    """Token check, size limit, parsing, duplicate detection and ``on_delivery``, in one place.

    :param transport: whose ``on_delivery`` hook fires for each new report.
    :param token: the shared token expected with every callback.
    :param duplicates: the :class:`DuplicateFilter` to use (by default a new one for this
        receiver), or ``None`` when the caller deduplicates (for example through a database
        constraint) and every report must reach ``on_delivery``.
    """

    def __init__(
        self,
        transport: Transport,
        token: str | None,
        *,
        duplicates: DuplicateFilter | _Default | None = _DEFAULT,
    ) -> None:
        self.transport = transport
        self.token = token
        self.duplicates: DuplicateFilter | None = (
            DuplicateFilter() if isinstance(duplicates, _Default) else duplicates
        )

    def __repr__(self) -> str:
        return f"WebhookReceiver(transport={self.transport!r}, token=<redacted>)"

    def token_from(self, query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
        """The token a request carries: the ``X-TwoFactor-Token`` header, else ``?token=``.

        The header is preferred: a query string ends up in access logs and error reports.
        """
        return headers.get(TOKEN_HEADER) or query.get(TOKEN_PARAM)

    def receive_delivery(
        self, body: bytes, content_type: str | None, token: str | None
    ) -> list[DeliveryReport]:
        """Check, parse and dispatch delivery reports; returns the new (non-duplicate) ones."""
        check_token(token, self.token)
        reports = parse_delivery_reports(body, content_type)
        duplicates = self.duplicates
        fresh = [r for r in reports if duplicates is None or not duplicates.seen(r.dedupe_key)]
        for report in fresh:
            self.transport.handle_report(report)
        return fresh

    def receive_click(
        self, body: bytes, content_type: str | None, token: str | None
    ) -> ClickReport | None:
        """Check, parse and dispatch a click; ``None`` when it is a duplicate."""
        check_token(token, self.token)
        click = parse_click_report(body, content_type)
        if self.duplicates is not None and self.duplicates.seen("click:" + click.dedupe_key):
            return None
        self.transport.handle_report(click)
        return click
