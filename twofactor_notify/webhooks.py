"""Incoming webhooks, framework-free: delivery reports and click-tracking callbacks.

2Factor does not sign its webhooks, so every callback carries a shared token: in the
``X-TwoFactor-Token`` header (the default, and the only form accepted unless the query form
is switched on), or, where only a URL can be registered, as ``?token=…``. :func:`check_token`
compares it in constant time.

Every framework's webhook calls one function, :func:`ingest_reports`, with one contract:
after the token check a valid report is either fully handed over (stored by the adapter,
every plugin and receiver called, each on its own) and answered 2xx, or the answer is 5xx so
that 2Factor retries it. A valid report is never answered 4xx. A duplicate filter records a
report only after its hand-over succeeded, so a retry of a report whose hand-over failed is
handed over again: receivers get each report *at least once* and deduplicate, where a
second call would do harm, on ``report.dedupe_key``.

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
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode

from twofactor_notify.redaction import library_logger

from .credentials import Secret
from .errors import WebhookError
from .models import ClickReport, DeliveryReport, DeliveryStatus
from .phone import report_number
from .validation import IST

if TYPE_CHECKING:
    from .transport import Transport

__all__ = [
    "HIDDEN_TOKEN",
    "MAX_REPORTS_PER_BODY",
    "MAX_WEBHOOK_BYTES",
    "TOKEN_HEADER",
    "TOKEN_PARAM",
    "DuplicateFilter",
    "HandOver",
    "HandOverInProgress",
    "Headers",
    "IngestResult",
    "WebhookReceiver",
    "check_token",
    "hide_token",
    "hide_token_in_query",
    "ingest_reports",
    "parse_click_report",
    "parse_delivery_batch",
    "parse_delivery_reports",
    "read_chunked",
    "read_limited",
    "token_from",
]

#: Largest body accepted (a report is a few hundred bytes; a list of 100 fits easily).
MAX_WEBHOOK_BYTES = 64 * 1024
#: Most reports one body may hold (a JSON list); a longer list is refused (400) whole.
MAX_REPORTS_PER_BODY = 500
#: Where the shared token may come: this header (matched whatever its case), or, when the
#: query form is switched on, this query string parameter.
TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "X-TwoFactor-Token"  # noqa: S105 - a header name
#: What :func:`hide_token` leaves where a token was (Django's substitute for secrets).
HIDDEN_TOKEN = "********************"  # noqa: S105 - a placeholder
#: The WSGI environ entries that hold the query string (WSGI; gunicorn; uWSGI).
_URI_KEYS = ("QUERY_STRING", "RAW_URI", "REQUEST_URI")
_MAX_REPORTS = MAX_REPORTS_PER_BODY
_TOKEN_HEADER_LOWER = TOKEN_HEADER.lower()
_TOKEN_HEADER_WSGI = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")
_MAX_FIELD = 256
_YEARS = (2000, 2100)
_STRICT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
#: What no database text column holds: NUL, and lone surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


logger = library_logger("twofactor_notify.webhooks")


def check_token(given: object, expected: str | Secret | None) -> None:
    """Raise :class:`WebhookError` (403) unless ``given`` equals ``expected``.

    Compared in constant time. An unset ``expected`` refuses everything: a webhook without a
    token would let anyone forge delivery reports. A ``given`` of any content (lone
    surrogates, control characters, bytes, not a string at all) is a 403, never another
    error. Either may be a :class:`~twofactor_notify.credentials.Secret`; it is revealed
    only for the comparison, never bound to a name of this frame.
    """
    if not _token_bytes(expected):
        raise WebhookError("webhook token is not configured", http_status=403)
    if not _token_bytes(given):
        raise WebhookError("webhook token is missing or wrong", http_status=403)
    if not hmac.compare_digest(_token_bytes(given), _token_bytes(expected)):
        raise WebhookError("webhook token is missing or wrong", http_status=403)


def _token_bytes(token: object) -> bytes:
    """A token's bytes (empty for none, or for something that is not a token)."""
    if isinstance(token, Secret):
        return _token_bytes(token.reveal())
    if isinstance(token, str):
        # surrogatepass: a lone surrogate (from a lenient decoder) encodes instead of raising
        return token.encode("utf-8", "surrogatepass")
    return token if isinstance(token, bytes) else b""


def hide_token_in_query(text: str, substitute: str = HIDDEN_TOKEN) -> str:
    """``text`` (a query string, or a URI with one) with every ``token`` value replaced."""
    path, mark, query = text.rpartition("?") if "?" in text else ("", "", text)
    if TOKEN_PARAM not in query and "%" not in query:
        return text
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name == TOKEN_PARAM for name, _ in pairs):
        return text
    hidden = [(name, substitute if name == TOKEN_PARAM else value) for name, value in pairs]
    return f"{path}{mark}{urlencode(hidden)}"


def hide_token(environ: MutableMapping[str, Any], substitute: str = HIDDEN_TOKEN) -> None:
    """Replace the webhook token wherever a WSGI environ (or Django's ``request.META``) holds
    it: the ``X-TwoFactor-Token`` header, and ``?token=`` in ``QUERY_STRING``, ``RAW_URI``
    and ``REQUEST_URI``.

    A webhook view calls it once it has read the token, before anything else: from then on
    an error report, a reporter's request data or an access log built from the environ shows
    ``substitute``. Framework objects cached from the environ (a parsed query) are the
    caller's to drop.
    """
    for name in list(environ):
        if isinstance(name, str) and name.upper() == _TOKEN_HEADER_WSGI:
            environ[name] = substitute
    for key in _URI_KEYS:
        value = environ.get(key)
        if isinstance(value, str) and value:
            environ[key] = hide_token_in_query(value, substitute)


class Headers(Protocol):
    """What :func:`token_from` needs of a request's headers: a dict, Django's
    ``request.headers``, werkzeug's ``Headers``, a WSGI environ."""

    def get(self, key: str, /) -> Any:
        """The value of ``key``, or ``None``."""

    def items(self) -> Iterable[tuple[str, Any]]:
        """Every (name, value) pair."""


def token_from(headers: Headers, query: Mapping[str, Any] | None = None) -> str | None:
    """The token a request carries: the ``X-TwoFactor-Token`` header, else ``query``'s token.

    Header names are matched whatever their case (ASGI servers give them in lower case; a
    WSGI environ spells them ``HTTP_X_TWOFACTOR_TOKEN``). Pass ``query`` only when the query
    form is switched on: a query string reaches access logs.
    """
    value = headers.get(TOKEN_HEADER) or headers.get(_TOKEN_HEADER_WSGI)
    if value is None:
        for name, given in headers.items():
            if isinstance(name, str) and name.lower() == _TOKEN_HEADER_LOWER:
                value = given
                break
    if not value and query is not None:
        value = query.get(TOKEN_PARAM)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) and value else None


def read_limited(stream: IO[bytes], limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """Read at most ``limit + 1`` bytes of a body: enough to tell an oversized one, never more.

    For a stream the server has already de-chunked (gunicorn's, werkzeug's ``wsgi.input``)
    or limited to ``Content-Length``. Read in a loop: a read may return fewer bytes than
    asked.

    A stream that can fill a buffer is given a zero-filled one. ``read(n)`` of a raw stream
    (werkzeug's input is one) allocates its buffer without clearing it and hands it to
    ``readinto``: until the body arrives, that frame's local holds whatever the memory held
    before (an earlier request, a key), for an error reporter to show if the read fails.
    """
    readinto = getattr(stream, "readinto", None)
    parts: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        if readinto is not None:
            buffer = bytearray(remaining)  # zero-filled
            chunk = bytes(buffer[: readinto(buffer) or 0])
        else:
            chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def read_chunked(stream: IO[bytes], limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """Decode a ``Transfer-Encoding: chunked`` body from the raw connection ``stream``.

    For servers that hand the application the connection as it is (``wsgiref``, Django's
    ``runserver``). Returns ``limit + 1`` bytes as soon as the body is known to be too large,
    having read on and dropped the rest (up to 16 times the limit, never buffered), so that
    the client gets to read the 413; raises :class:`WebhookError` (400) for broken framing.
    """
    parts: list[bytes] = []
    size_so_far = 0
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise WebhookError("chunked body is malformed") from None
        if size == 0:
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(parts)
        if size_so_far + size > limit:
            _drain_chunks(stream, size, limit * _DRAIN_FACTOR)
            return b"".join(parts) + b"x" * (limit + 1 - size_so_far)
        data = read_limited(stream, size - 1)
        if len(data) != size:
            raise WebhookError("chunked body is truncated")
        parts.append(data)
        size_so_far += size
        stream.readline(8)  # the CRLF after the chunk


#: An oversized chunked body is read on (and dropped) up to this many times the limit, so
#: that a client still sending can read the 413 rather than find the connection reset.
_DRAIN_FACTOR = 16


def _drain_chunks(stream: IO[bytes], size: int, budget: int) -> None:
    """Read and drop the rest of a chunked body, ``size`` bytes of the current chunk first,
    at most ``budget`` bytes in all (never buffered: 8 KiB at a time)."""
    while size and budget > 0:
        while size > 0 and budget > 0:
            dropped = len(stream.read(min(size, 8192)))
            if not dropped:
                return
            size -= dropped
            budget -= dropped
        stream.readline(8)  # the CRLF after the chunk
        try:
            size = int(stream.readline(1024).split(b";", 1)[0].strip(), 16)
        except ValueError:
            return
    if not size:
        while stream.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields


def _check_size(body: bytes) -> None:
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookError(
            f"webhook body is larger than {MAX_WEBHOOK_BYTES} bytes", http_status=413
        )


def _records(body: bytes, content_type: str | None) -> list[Any]:
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
        return items
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("webhook body is neither JSON nor url-encoded") from None
    return [dict(pairs)]


def _text(record: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    """An identifier field (id, number, status, sender, time): printable text only."""
    text = _field(record, key, required=required)
    if not text.isprintable():
        # 2Factor makes these fields itself; no real report has a control character in one
        raise WebhookError(f"webhook field {key} has control characters")
    return text


def _free_text(record: Mapping[str, Any], key: str) -> str:
    """A free-text field the sender chose (``callback_value1``, ``campaignName``…).

    Kept as it came: tabs, line breaks, U+0085, U+2028, U+00A0, DEL and any other character
    the send side accepted are stored, never refused. Only what no database column can hold
    is replaced by U+FFFD: NUL (PostgreSQL text refuses it) and lone surrogates (UTF-8
    cannot encode them). The send side refuses both
    (:func:`twofactor_notify.validation.validate_echoed_text`), so a value this library sent
    comes back unchanged.
    """
    return _UNSTORABLE.sub("\ufffd", _field(record, key))


def _field(record: Mapping[str, Any], key: str, *, required: bool = False) -> str:
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


def _delivery_report(record: object) -> DeliveryReport:
    if not isinstance(record, Mapping):
        raise WebhookError("webhook JSON must be an object or a list of objects")
    raw_status = _text(record, "SmsStatus", required=True)
    return DeliveryReport(
        message_id=_text(record, "SessionId", required=True),
        status=DeliveryStatus.parse(raw_status),
        raw_status=raw_status,
        to=report_number(_text(record, "SmsTo")),
        sender=_text(record, "SmsFrom"),
        sent_at=_time(record, "SentAt"),
        status_at=_time(record, "StatusAt"),
        callback_value1=_free_text(record, "callback_value1") or None,
        callback_value2=_free_text(record, "callback_value2") or None,
    )


def parse_delivery_batch(
    body: bytes, content_type: str | None = None
) -> tuple[list[DeliveryReport], list[str]]:
    """Parse a delivery-report body, deciding each report of a list on its own.

    Returns ``(reports, refusals)``: the valid reports in body order, and for each report
    that is not valid (missing ``SessionId``, a time that does not parse, not an object…)
    the reason, which names the field, never its value. Raises :class:`WebhookError` only
    when the body as a whole is unusable: too large (413), empty, not JSON nor url-encoded,
    or a list of more than :data:`MAX_REPORTS_PER_BODY` reports (400).
    """
    reports: list[DeliveryReport] = []
    refusals: list[str] = []
    for record in _records(body, content_type):
        try:
            reports.append(_delivery_report(record))
        except WebhookError as exc:
            refusals.append(exc.message)
    return reports, refusals


def parse_delivery_reports(body: bytes, content_type: str | None = None) -> list[DeliveryReport]:
    """Parse a delivery-report body (JSON object or list, or url-encoded) into reports.

    Raises :class:`WebhookError` (400, or 413 when too large) for anything malformed, a
    single invalid report of a list included (the webhooks use
    :func:`parse_delivery_batch`, which keeps the valid ones).
    """
    reports, refusals = parse_delivery_batch(body, content_type)
    if refusals:
        raise WebhookError(refusals[0])
    return reports


def parse_click_report(body: bytes, content_type: str | None = None) -> ClickReport:
    """Parse a click-tracking callback (``accessed``, ``phoneNo``, ``campaignName``, ``ip``)."""
    records = _records(body, content_type)
    if len(records) != 1:
        raise WebhookError("a click callback holds exactly one click")
    record = records[0]
    if not isinstance(record, Mapping):
        raise WebhookError("webhook JSON must be an object")
    return ClickReport(
        phone=report_number(_text(record, "phoneNo", required=True)),
        campaign_name=_free_text(record, "campaignName"),
        accessed_at=_time(record, "accessed"),
        ip=_text(record, "ip"),
    )


class HandOverInProgress(Exception):
    """Raised by a hand-over when a copy of the same report is being handed over right now
    (by another thread, process or machine) and may still finish: the webhook answers 503,
    so that 2Factor retries later and the retry finds the report handed over (a duplicate)
    or, should the holder have died, hands it over itself."""


class DuplicateFilter:
    """Remembers the last ``size`` report keys, to recognise a report delivered twice.

    In-process; the Django adapter relies on a unique database constraint instead. Copies
    of one report arriving at the same moment on several threads are handed over once:
    :meth:`claim` lets one thread through and makes the others wait for its outcome.
    """

    def __init__(self, size: int = 10_000, *, wait: float = 30.0) -> None:
        self.size = size
        self.wait = wait
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._in_flight: set[str] = set()
        self._changed = threading.Condition(threading.Lock())

    def seen(self, key: str) -> bool:
        """True if ``key`` was seen before; records it otherwise."""
        with self._changed:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._record(key)
            return False

    def __contains__(self, key: object) -> bool:
        """True if ``key`` was recorded (and not yet forgotten); records nothing."""
        with self._changed:
            return key in self._seen

    def claim(self, key: str) -> bool:
        """Take ``key``'s hand-over: ``True`` when the caller must hand the report over now
        (then call :meth:`record` or, if it failed, :meth:`release`), ``False`` when it was
        handed over before. A copy being handed over by another thread is waited for (up to
        :attr:`wait` seconds, then :class:`HandOverInProgress`)."""
        with self._changed:
            if not self._changed.wait_for(lambda: key not in self._in_flight, self.wait):
                raise HandOverInProgress(key)
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._in_flight.add(key)
            return True

    def record(self, key: str) -> None:
        """Remember ``key``: call it once the report's hand-over has succeeded."""
        with self._changed:
            self._in_flight.discard(key)
            self._record(key)
            self._changed.notify_all()

    def release(self, key: str) -> None:
        """Give up a :meth:`claim` whose hand-over failed: the next copy may try again."""
        with self._changed:
            self._in_flight.discard(key)
            self._changed.notify_all()

    def _record(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)


Report = DeliveryReport | ClickReport
#: Hands one report over completely (stores it, calls every plugin and receiver); returns
#: ``True`` when it did so now, ``False`` when the report had been fully handed over
#: before (a duplicate). Raising means "not handed over": the webhook answers 5xx
#: (:class:`HandOverInProgress` when a concurrent copy holds the report).
HandOver = Callable[[Report], bool]


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest_reports` did with one request: the status to answer, and counts.

    :ivar status: the HTTP status to answer: 200, 403 (token), 400 (malformed), 413 (too
        large), or 503 when a valid report could not be handed over (2Factor retries).
    :ivar received: valid reports in the body (0 when the request was refused).
    :ivar new: reports handed over now.
    :ivar duplicates: reports handed over before (answered 200, nothing called again).
    :ivar failed: valid reports whose hand-over failed, or is held by a concurrent copy
        that may still finish it (the reason for a 503).
    :ivar refused: reports of a list that are not valid (no ``SessionId``, a time that does
        not parse…): skipped, while the valid ones beside them are handed over. A body with
        no valid report at all is answered 400.
    :ivar error: why the request was refused or must be retried (names the problem, never
        a value from the request).
    :ivar reports: the reports handed over now, in body order.
    """

    status: int
    received: int = 0
    new: int = 0
    duplicates: int = 0
    failed: int = 0
    refused: int = 0
    error: str | None = None
    reports: tuple[Report, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer: every report of the body is handed over."""
        return 200 <= self.status < 300


def _dedupe_key(report: Report) -> str:
    return ("click:" + report.dedupe_key) if isinstance(report, ClickReport) else report.dedupe_key


def ingest_reports(
    kind: Literal["delivery", "click"],
    body: bytes,
    content_type: str | None,
    *,
    token: object,
    expected_token: str | Secret | None,
    hand_over: HandOver,
    duplicates: DuplicateFilter | None = None,
) -> IngestResult:
    """The one ingest path of every webhook: check, parse, hand over, decide the answer.

    1. the token (403), the size (413) and the body (400): refusals of an invalid request.
       Each report of a list is judged on its own: an invalid one is counted in
       ``refused`` and skipped, the valid ones go on; only a body without any valid report
       is answered 400 (a retry could not make it valid);
    2. each valid report on its own: skipped when ``duplicates`` recorded its key, else passed to
       ``hand_over``, and its key recorded only once ``hand_over`` returned. Copies of one
       report on concurrent threads are handed over once (:meth:`DuplicateFilter.claim`);
       a hand-over that raises :class:`HandOverInProgress` (a copy elsewhere holds it)
       counts as failed;
    3. the answer: 200 when every report was handed over now or before, else 503 (a
       ``hand_over`` raised; it is logged by exception type only), so that 2Factor retries
       the body and the reports handed over already come back as duplicates.

    Never raises for a request's content; an exception from ``hand_over`` becomes a 503.
    """
    try:
        check_token(token, expected_token)
        refusals: list[str] = []
        if kind == "delivery":
            delivered, refusals = parse_delivery_batch(body, content_type)
            reports: list[Report] = list(delivered)
        else:
            reports = [parse_click_report(body, content_type)]
        if not reports:
            raise WebhookError(refusals[0] if refusals else "webhook body holds no report")
    except WebhookError as exc:
        return IngestResult(exc.http_status, error=exc.message)
    if refusals:
        logger.warning(
            "skipped %d invalid %s report(s) of a list (first: %s)",
            len(refusals),
            kind,
            refusals[0],
        )
    new: list[Report] = []
    dupes = failed = busy = 0
    for report in reports:
        key = _dedupe_key(report) if duplicates is not None else ""
        try:
            if duplicates is not None and not duplicates.claim(key):
                dupes += 1
                continue
        except HandOverInProgress:
            busy += 1
            continue
        try:
            fresh = hand_over(report)
        except HandOverInProgress:  # a concurrent copy holds it: retry later
            busy += 1
            if duplicates is not None:
                duplicates.release(key)
            continue
        except Exception as exc:  # stored nothing, or not all of it: 2Factor must retry
            failed += 1
            if duplicates is not None:
                duplicates.release(key)
            logger.error("a %s report could not be handed over (%s)", kind, type(exc).__name__)
            continue
        if duplicates is not None:
            duplicates.record(key)
        if fresh:
            new.append(report)
        else:
            dupes += 1
    if busy:
        logger.info("%d %s report(s) are being handed over by a concurrent copy", busy, kind)
        failed += busy
    if failed:
        return IngestResult(
            503,
            received=len(reports),
            new=len(new),
            duplicates=dupes,
            failed=failed,
            refused=len(refusals),
            error=(
                "some reports could not be handed over; please retry"
                if failed > busy
                else "a copy of a report is being handed over; please retry later"
            ),
            reports=tuple(new),
        )
    return IngestResult(
        200,
        received=len(reports),
        new=len(new),
        duplicates=dupes,
        refused=len(refusals),
        reports=tuple(new),
    )


class _Default:
    """Marks "no argument given" where ``None`` has a meaning of its own."""


_DEFAULT = _Default()


class WebhookReceiver:
    """Token check, size limit, parsing, duplicate detection and ``on_delivery``, in one place.

    :param transport: whose ``on_delivery`` hook fires for each new report.
    :param token: the shared token expected with every callback; kept in a
        :class:`~twofactor_notify.credentials.Secret` (:attr:`token`).
    :param duplicates: the :class:`DuplicateFilter` to use (by default a new one for this
        receiver), or ``None`` when the caller deduplicates (for example through a database
        constraint) and every report must reach ``on_delivery``.
    :param query_token: also accept the token as ``?token=`` (off by default: a query
        string reaches access logs; switch it on where only a URL can be registered).
    """

    def __init__(
        self,
        transport: Transport,
        token: str | Secret | None,
        *,
        duplicates: DuplicateFilter | _Default | None = _DEFAULT,
        query_token: bool = False,
    ) -> None:
        self.transport = transport
        self.token: Secret | None = Secret.wrap(token)
        self.query_token = query_token
        self.duplicates: DuplicateFilter | None = (
            DuplicateFilter() if isinstance(duplicates, _Default) else duplicates
        )

    def __repr__(self) -> str:
        return f"WebhookReceiver(transport={self.transport!r}, token=<redacted>)"

    def token_from(self, query: Mapping[str, Any], headers: Headers) -> str | None:
        """The token a request carries: the ``X-TwoFactor-Token`` header (any case), else
        ``?token=`` when :attr:`query_token` is on."""
        return token_from(headers, query if self.query_token else None)

    def hand_over(self, report: Report) -> bool:
        """Fire ``on_delivery`` for ``report``, each plugin on its own; always ``True``."""
        self.transport.handle_report(report)
        return True

    def ingest(
        self,
        kind: Literal["delivery", "click"],
        body: bytes,
        content_type: str | None,
        token: object,
    ) -> IngestResult:
        """:func:`ingest_reports` with this receiver's token, filter and transport."""
        return ingest_reports(
            kind,
            body,
            content_type,
            token=token,
            expected_token=self.token,
            hand_over=self.hand_over,
            duplicates=self.duplicates,
        )

    def receive_delivery(
        self, body: bytes, content_type: str | None, token: str | None
    ) -> list[DeliveryReport]:
        """Check, parse and dispatch delivery reports; returns the new (non-duplicate) ones.

        Raises :class:`WebhookError` when the request is refused (its ``http_status`` is the
        answer to give).
        """
        result = self.ingest("delivery", body, content_type, token)
        _raise_refusal(result)
        return [r for r in result.reports if isinstance(r, DeliveryReport)]

    def receive_click(
        self, body: bytes, content_type: str | None, token: str | None
    ) -> ClickReport | None:
        """Check, parse and dispatch a click; ``None`` when it is a duplicate."""
        result = self.ingest("click", body, content_type, token)
        _raise_refusal(result)
        return next((r for r in result.reports if isinstance(r, ClickReport)), None)


def _raise_refusal(result: IngestResult) -> None:
    if not result.ok:
        raise WebhookError(result.error or "webhook refused", http_status=result.status)
