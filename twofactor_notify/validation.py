"""Whether a message may be sent: the one set of checks every path runs before a request.

Two levels, one definition each:

* field checks (``validate_*``): each returns the cleaned value or raises
  :class:`InvalidInputError` (or a subclass) naming the field. Values that go into URL paths
  are restricted to characters that cannot change the path (no ``/``, no ``..``), and are
  percent-encoded by the client anyway;
* message checks (:func:`check_message`, :func:`check_bulk_message`): every field of a message
  and the rules between fields (a custom OTP with ``include_otp``, DLT ids on a promotional
  SMS...). Every :class:`~twofactor_notify.transport.Transport` runs them before
  ``before_send``, so a test double refuses exactly what the 2Factor transport refuses; the
  client runs the same functions, so that it is just as safe when called directly.

A value of the wrong type is refused with an error naming the field and the type, never taken
for another value (``42`` is not "an empty text"). Nothing is converted: a phone number or an
OTP given as an ``int`` has lost its leading zeros or ``+`` and is refused, like any other
non-string.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInputError, InvalidPhoneNumberError, OTPError
from .models import BulkBatch, BulkMessage, Message, OTPMessage, SMSMessage
from .phone import DEFAULT_REGION, normalize_phone

__all__ = [
    "BULK_MESSAGE_KEYS",
    "IST",
    "MAX_BULK_CHUNK",
    "MAX_TEXT_LENGTH",
    "MAX_TIMEOUT",
    "MIN_SCHEDULE_AHEAD",
    "check_bulk_message",
    "check_message",
    "check_otp_message",
    "check_sms_message",
    "coerce_bulk_messages",
    "format_schedule_time",
    "validate_api_key",
    "validate_base_url",
    "validate_campaign_name",
    "validate_dlt_id",
    "validate_echoed_text",
    "validate_metadata",
    "validate_otp_code",
    "validate_otp_length",
    "validate_otp_phone",
    "validate_sender",
    "validate_session_id",
    "validate_sms_date",
    "validate_template",
    "validate_text",
    "validate_timeout",
    "validate_webhook_url",
    "wants_background",
]

#: 2Factor takes at most 1000 messages per bulk request.
MAX_BULK_CHUNK = 1000
#: Longest message text the bulk endpoint accepts (applied to R1 too).
MAX_TEXT_LENGTH = 1000
#: Longest wait for an answer a timeout may ask for, in seconds (a day): beyond it the
#: socket layer's clocks overflow (``inf``, ``1e308``), and no answer is worth waiting for.
MAX_TIMEOUT = 86_400.0
#: ``scheduletime`` must be at least this far in the future.
MIN_SCHEDULE_AHEAD = timedelta(minutes=5)
#: India Standard Time: the clock ``scheduletime`` is read in (no daylight saving).
IST = timezone(timedelta(hours=5, minutes=30), "IST")

_OTP = re.compile(r"[0-9]{4,6}")
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_TEMPLATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _\-]{0,63}")
_SENDER = re.compile(r"[A-Za-z0-9]{1,6}")
_DLT_ID = re.compile(r"[0-9]{1,30}")
# C0 controls and DEL, except tab, line feed and carriage return
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INDIAN_MOBILE = re.compile(r"\+91[6-9][0-9]{9}")
_CALLBACK_FORMATS = frozenset({"json", "raw-url-encoded"})
_MAX_CALLBACK_URL = 256
_MAX_CALLBACK_VALUE = 256

#: The keys a bulk message given as a plain mapping may have (``to`` and ``text`` required).
BULK_MESSAGE_KEYS = frozenset(f.name for f in dataclasses.fields(BulkMessage))
_BULK_REQUIRED = ("to", "text")


def _type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _require_str(value: object, *, field: str, what: str) -> str:
    """``value`` if it is a ``str`` that UTF-8 can carry; else an error naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {_type_name(value)}", field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"{what} holds a lone surrogate (an unpaired half of a UTF-16 pair), which "
                "cannot be sent",
                field=field,
            ) from None
    return value


def _require_bool(value: object, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(
            f"{field} must be True or False, not {_type_name(value)}", field=field
        )
    return value


def wants_background(background: object, key: object) -> bool:
    """Check a sending helper's ``background`` and ``key`` arguments; True to queue.

    ``background`` must be a bool (``"no"`` is truthy: it would queue). ``key`` is the
    idempotency key of a queued message: a synchronous send has none, so a key given with
    ``background=False`` is refused rather than ignored (a caller relying on it against a
    second send would have no protection).
    """
    _require_bool(background, field="background")
    if key is not None and not background:
        raise InvalidInputError(
            "key is the idempotency key of a background send: pass background=True with it "
            "(a synchronous send has no key, and nothing would stop a second one)",
            field="key",
        )
    return bool(background)


def validate_phone(raw: object, *, region: str = DEFAULT_REGION) -> str:
    """A phone number as E.164 (:func:`~twofactor_notify.phone.normalize_phone`'s rules).

    ``field`` is ``"phone"`` on every path (OTP ``to``, SMS ``to``, bulk ``to``, ``phone=``).
    """
    if isinstance(raw, str) and _INDIAN_MOBILE.fullmatch(raw):
        return raw  # the common case, already canonical: no libphonenumber call
    return normalize_phone(raw, region=region)  # type: ignore[arg-type]  # it refuses non-str


#: The numbers 2Factor's OTP endpoints (AUTOGEN, AUTOGEN2, AUTOGEN3, a custom OTP, VERIFY3)
#: take: an Indian number, 10 digits after +91 (``Invalid Phone Number - Length
#: Mismatch(Expected: 10)`` for any other).
_OTP_NUMBER = re.compile(r"\+91[0-9]{10}")


def validate_otp_phone(raw: object, *, region: str = DEFAULT_REGION) -> str:
    """A number an OTP endpoint takes, as E.164: :func:`validate_phone`, and Indian.

    2Factor's OTP endpoints (send and VERIFY3) take a 10-digit Indian number only and
    answer ``Length Mismatch(Expected: 10)`` for any other, so every path refuses one here.

    :raises InvalidPhoneNumberError: ``field`` is ``"phone"``.
    """
    e164 = validate_phone(raw, region=region)
    if not _OTP_NUMBER.fullmatch(e164):
        raise InvalidPhoneNumberError(
            "2Factor sends and verifies OTPs to Indian numbers only (+91 and 10 digits); "
            "this number is of another country",
            field="phone",
        )
    return e164


_API_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{7,127}")


def validate_otp_code(code: object, *, field: str = "otp") -> str:
    """An OTP is a string of exactly 4 to 6 ASCII digits (``Invalid OTP Code - Length
    Mismatch(Expected: 4-6)``).

    The one rule for codes sent and verified on every path (client, transports, the Django
    and Flask logins, the otp device, the CLI). Nothing is converted: an ``int`` has lost its
    leading zeros, and a code with spaces or a newline around it (``" 482913"``,
    ``"1234\\n"``) is refused, not trimmed -- a form that means to trim does so itself.
    """
    if isinstance(code, int) and not isinstance(code, bool):
        raise OTPError("OTP must be given as a string of digits, not an int", field=field)
    if not isinstance(code, str):
        raise OTPError(
            f"OTP must be a string of 4 to 6 digits, not {_type_name(code)}", field=field
        )
    if not _OTP.fullmatch(code):
        raise OTPError("OTP must be 4 to 6 digits, with nothing around them", field=field)
    return code


def validate_sms_date(value: object) -> str:
    """The ``smsdate`` of a delivery lookup: the day the message was sent, in IST.

    2Factor counts days in India Standard Time, so a server elsewhere that asks for its own
    ``date.today()`` in the evening (UTC) asks for the wrong day. ``None`` is today in IST; an
    aware ``datetime`` is converted to IST first; a plain ``date``, like a naive ``datetime``
    (as for ``schedule_at``), is read as IST.
    """
    if value is None:
        return datetime.now(IST).strftime("%Y-%m-%d")
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(IST).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    raise InvalidInputError(
        f"sms_date must be a date, a datetime or None, not {_type_name(value)}",
        field="sms_date",
    )


def validate_session_id(session_id: object) -> str:
    """A session id as 2Factor issues them: letters, digits, ``-`` and ``_``."""
    if not isinstance(session_id, str):
        raise InvalidInputError(
            f"session_id must be a string, not {_type_name(session_id)}", field="session_id"
        )
    if not _SESSION.fullmatch(session_id):
        raise InvalidInputError(
            "session_id must be letters, digits, '-' or '_' (at most 128)", field="session_id"
        )
    return session_id


def validate_template(template: object) -> str:
    """A template name: letters, digits, spaces, ``-`` and ``_`` (it becomes a path segment)."""
    if not isinstance(template, str):
        raise InvalidInputError(
            f"template must be a string, not {_type_name(template)}", field="template"
        )
    if not _TEMPLATE.fullmatch(template):
        raise InvalidInputError(
            "template must be letters, digits, spaces, '-' or '_' (at most 64)", field="template"
        )
    return template


def validate_sender(sender: object) -> str:
    """A DLT sender id (header): 1 to 6 letters or digits, e.g. ``TFACTR``."""
    if sender is None or sender == "":
        raise InvalidInputError("sender is required (a DLT-approved sender id)", field="sender")
    if not isinstance(sender, str):
        raise InvalidInputError(
            f"sender must be a string, not {_type_name(sender)}", field="sender"
        )
    if not _SENDER.fullmatch(sender):
        raise InvalidInputError(
            "sender must be 1 to 6 letters or digits (a DLT sender id such as 'TFACTR')",
            field="sender",
        )
    return sender


def validate_text(text: object, *, field: str = "text") -> str:
    """Message text: a string, not blank, at most 1000 characters, encodable as UTF-8, and
    no control character but tab and line breaks (a NUL byte, an escape...)."""
    value = _require_str(text, field=field, what="message text")
    if not value.strip():
        raise InvalidInputError("message text is empty", field=field)
    control = _TEXT_CONTROL.search(value)
    if control is not None:
        raise InvalidInputError(
            f"message text holds the control character U+{ord(control.group()):04X} at "
            f"position {control.start() + 1}",
            field=field,
        )
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInputError(
            f"message text is {len(value)} characters; at most {MAX_TEXT_LENGTH}", field=field
        )
    return value


def validate_echoed_text(value: object, *, field: str) -> str:
    """A free-text value 2Factor echoes back in its delivery reports (``callback_value1``,
    ``callback_value2``): at most 256 characters, any of them but NUL.

    The webhooks store such a value exactly as it comes back (tabs, line breaks, U+2028,
    DEL included), so the rule here is what a database column can hold: no NUL
    (PostgreSQL text refuses it) and no lone surrogate (UTF-8 cannot carry it).
    """
    text = _require_str(value, field=field, what=field)
    if len(text) > _MAX_CALLBACK_VALUE:
        raise InvalidInputError(
            f"{field} is longer than {_MAX_CALLBACK_VALUE} characters", field=field
        )
    if "\x00" in text:
        raise InvalidInputError(
            f"{field} holds a NUL character, which a delivery report cannot bring back",
            field=field,
        )
    return text


def validate_dlt_id(value: object, *, field: str) -> str:
    """A DLT PE id or CT id: digits only."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string of digits, not {_type_name(value)}", field=field
        )
    if not _DLT_ID.fullmatch(value):
        raise InvalidInputError(f"{field} must be the DLT id's digits", field=field)
    return value


def validate_campaign_name(value: object) -> str:
    """A click-tracking campaign name: 1 to 100 printable characters."""
    name = _require_str(value, field="campaign_name", what="campaign_name")
    if not name.strip() or len(name) > 100:
        raise InvalidInputError("campaign_name must be 1 to 100 characters", field="campaign_name")
    if not name.isprintable():
        raise InvalidInputError("campaign_name must be printable", field="campaign_name")
    return name


def _url_problem(value: str) -> str | None:
    """What keeps ``value`` from being an absolute http(s) URL a request can be built on."""
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        return "holds a space or a control character" if value else "is empty"
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError: not a number, or out of 0-65535
    except ValueError:  # also an unbalanced "[" in the host
        return "is not a valid URL (its host or port cannot be read)"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if port == 0:
        return "has port 0"
    return None


def validate_webhook_url(value: object, *, field: str) -> str:
    """A webhook URL 2Factor will POST to: absolute ``http`` or ``https``, with a host and
    a valid port."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a URL, not {_type_name(value)}", field=field)
    _require_str(value, field=field, what=field)
    problem = _url_problem(value)
    if problem is not None:
        raise InvalidInputError(
            f"{field} {problem}: it must be an absolute http(s) URL", field=field
        )
    return value


def validate_base_url(value: object, *, field: str = "base_url") -> str:
    """The API's base URL (2Factor's, a sandbox's): an absolute ``http``/``https`` URL with a
    host and a valid port, no query or fragment (paths are appended to it). Returned
    stripped, without a trailing ``/``. The value is not repeated in the error."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a URL, not {_type_name(value)}", field=field)
    text = value.strip()
    problem = _url_problem(text)
    if problem is None:
        parts = urlsplit(text)
        if parts.query or parts.fragment or text.endswith(("?", "#")):
            problem = "has a query or a fragment"
        elif parts.username is not None or parts.password is not None:
            # 2Factor authenticates by the key; a password here would go out, and show, in
            # every URL built on it
            problem = "carries credentials (user:password@)"
        elif "/api/" in f"{parts.path.lower()}/":
            problem = "includes the API's path (the key goes in api_key, not in the URL)"
    if problem is not None:
        raise InvalidInputError(
            f"{field} {problem}: it must be an absolute http:// or https:// URL such as "
            "'https://2factor.in'",
            field=field,
        )
    return text.rstrip("/")


def validate_timeout(value: object, *, field: str = "timeout") -> float | tuple[float, float]:
    """Seconds to wait for an answer: a number more than 0 and at most :data:`MAX_TIMEOUT`,
    or a ``(connect, read)`` pair of them."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise InvalidInputError(
                f"{field} must be a number of seconds or a (connect, read) pair", field=field
            )
        return (_seconds(value[0], field), _seconds(value[1], field))
    return _seconds(value, field)


def _seconds(value: object, field: str) -> float:
    expected = f"{field} must be a number of seconds, more than 0 and at most {MAX_TIMEOUT:g}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInputError(expected, field=field)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise InvalidInputError(expected, field=field) from None
    if not (math.isfinite(number) and 0 < number <= MAX_TIMEOUT):
        raise InvalidInputError(expected, field=field)
    return number


def format_schedule_time(when: object, *, now: datetime | None = None) -> str:
    """``scheduletime`` as 2Factor reads it: ``YYYY-MM-DD HH:MM:SS`` in India Standard Time.

    A naive ``when`` is taken as IST. It must be at least 5 minutes after ``now``.
    """
    if not isinstance(when, datetime):
        raise InvalidInputError(
            f"schedule_at must be a datetime, not {_type_name(when)}", field="schedule_at"
        )
    aware = when.replace(tzinfo=IST) if when.tzinfo is None else when
    current = now or datetime.now(UTC)
    try:
        ahead = aware - current
        in_india = aware.astimezone(IST)
    except (OverflowError, ValueError):
        # past year 9999 once in India time (9999-12-31 23:59 UTC), or a tzinfo that fails
        raise InvalidInputError(
            "schedule_at is out of range: it must be a date before year 9999 in India time",
            field="schedule_at",
        ) from None
    if ahead < MIN_SCHEDULE_AHEAD:
        raise InvalidInputError(
            "schedule_at must be at least 5 minutes in the future", field="schedule_at"
        )
    return in_india.strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- messages


def validate_metadata(metadata: object, *, where: str = "metadata") -> None:
    """Metadata is plain JSON data: a mapping with string keys whose values are dicts, lists,
    strings, ints, finite floats, booleans or ``None``, nested at most 32 deep.

    The one rule for every transport (the file transport writes it as JSON, a queued
    message carries it in its envelope, the message log stores it): a set, bytes, a tuple
    or an object is refused before anything is sent, never a ``TypeError`` half-way.

    :raises InvalidInputError: ``field`` is ``"metadata"``.
    """
    if where == "metadata" and not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"metadata must be a mapping, not {_type_name(metadata)}", field="metadata"
        )
    _json_data(metadata, where, 0)


def _json_data(value: object, where: str, depth: int) -> None:
    """Refuse what JSON would change or cannot carry: tuples, sets, non-string keys, NaN."""
    if depth > _MAX_METADATA_DEPTH:
        raise InvalidInputError(f"{where} is nested too deeply", field="metadata")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(
                f"{where} holds {value!r}, which JSON cannot carry", field="metadata"
            )
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _json_data(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"{where} has a key that is not a string", field="metadata")
            _json_data(item, f"{where}[{k!r}]", depth + 1)
        return
    raise InvalidInputError(
        f"{where} holds a {_type_name(value)}; metadata must be JSON data (dict, list, str, "
        "int, float, bool, None)",
        field="metadata",
    )


_MAX_METADATA_DEPTH = 32


def _check_metadata(metadata: object) -> None:
    validate_metadata(metadata)


def validate_otp_length(length: object) -> int:
    """The number of digits 2Factor generates: 4 (``AUTOGEN3``) or 6."""
    if isinstance(length, bool) or not isinstance(length, int):
        raise InvalidInputError(f"length must be 4 or 6, not {_type_name(length)}", field="length")
    if length not in (4, 6):
        raise InvalidInputError(f"length must be 4 or 6, not {length}", field="length")
    return length


def check_otp_message(message: OTPMessage, *, region: str = DEFAULT_REGION) -> OTPMessage:
    """Check every field of an OTP send; return it with ``to`` in E.164."""
    to = validate_otp_phone(message.to, region=region)
    if message.template is not None:
        validate_template(message.template)
    include_otp = _require_bool(message.include_otp, field="include_otp")
    length = validate_otp_length(message.length)
    otp = message.otp
    if otp is not None:
        otp = validate_otp_code(otp)
        if include_otp:
            raise InvalidInputError(
                "include_otp applies to generated OTPs, not a custom one", field="include_otp"
            )
    elif length == 4 and include_otp:
        raise InvalidInputError(
            "2Factor returns the OTP only for 6-digit sends (AUTOGEN2)", field="include_otp"
        )
    _check_metadata(message.metadata)
    if to == message.to and otp == message.otp:
        return message
    return dataclasses.replace(message, to=to, otp=otp)


def check_sms_message(message: SMSMessage, *, region: str = DEFAULT_REGION) -> SMSMessage:
    """Check every field of an R1 text message; return it with its numbers in E.164."""
    if not message.to:
        raise InvalidInputError("a text message needs at least one recipient", field="to")
    to = tuple(validate_phone(p, region=region) for p in message.to)
    validate_sender(message.sender)
    validate_text(message.text)
    promotional = _require_bool(message.promotional, field="promotional")
    shorten_urls = _require_bool(message.shorten_urls, field="shorten_urls")
    if message.schedule_at is not None:
        format_schedule_time(message.schedule_at)
    if message.pe_id is not None:
        validate_dlt_id(message.pe_id, field="pe_id")
    if message.ct_id is not None:
        validate_dlt_id(message.ct_id, field="ct_id")
    if message.campaign_name is not None:
        validate_campaign_name(message.campaign_name)
    if message.campaign_webhook is not None:
        if message.campaign_name is None:
            raise InvalidInputError(
                "campaign_webhook needs campaign_name (click tracking is per campaign)",
                field="campaign_webhook",
            )
        validate_webhook_url(message.campaign_webhook, field="campaign_webhook")
    if (
        message.shorten_url_webhook is not None or message.shorten_url_callback is not None
    ) and not shorten_urls:
        raise InvalidInputError(
            "shorten_url_webhook / shorten_url_callback need shorten_urls=True",
            field="shorten_urls",
        )
    if message.shorten_url_webhook is not None:
        validate_webhook_url(message.shorten_url_webhook, field="shorten_url_webhook")
    if message.shorten_url_callback is not None:
        callback = _require_str(
            message.shorten_url_callback,
            field="shorten_url_callback",
            what="shorten_url_callback",
        )
        if len(callback) > _MAX_CALLBACK_URL:
            raise InvalidInputError(
                f"shorten_url_callback is longer than {_MAX_CALLBACK_URL} characters",
                field="shorten_url_callback",
            )
    if promotional and (message.campaign_name or shorten_urls or message.pe_id or message.ct_id):
        raise InvalidInputError(
            "DLT ids, click tracking and URL shortening are transactional-only options",
            field="promotional",
        )
    _check_metadata(message.metadata)
    return message if to == message.to else dataclasses.replace(message, to=to)


def check_bulk_message(message: BulkMessage, *, region: str = DEFAULT_REGION) -> BulkMessage:
    """Check one message of a bulk send; return it with ``to`` in E.164.

    A bulk send reports a message refused here as a rejection at its index (the others
    still go); :func:`check_message` on a whole :class:`BulkBatch` raises for the first.
    """
    if not isinstance(message, BulkMessage):
        raise InvalidInputError(
            f"a bulk message must be a BulkMessage, not {_type_name(message)}", field="messages"
        )
    to = validate_phone(message.to, region=region)
    validate_text(message.text)
    validate_sender(message.sender)
    for name in ("callback_value1", "callback_value2"):
        value = getattr(message, name)
        if value is not None:
            validate_echoed_text(value, field=name)
    if message.callback_format is not None and message.callback_format not in _CALLBACK_FORMATS:
        raise InvalidInputError(
            "callback_format must be 'json' or 'raw-url-encoded'", field="callback_format"
        )
    return message if to == message.to else dataclasses.replace(message, to=to)


def check_message(message: Message, *, region: str = DEFAULT_REGION) -> Message:
    """Decide whether ``message`` may be sent: return it normalised, or raise.

    The one check every transport runs before ``before_send`` (and again on what a plugin
    returns); a background sender should run it before it queues a message, so that a
    refusal reaches the caller rather than a worker. Numbers come back in E.164.

    :raises InvalidInputError: (or a subclass) with ``field`` naming what was refused. For a
        :class:`BulkBatch`, the first refused message decides, and the text says its index.
    """
    if isinstance(message, OTPMessage):
        return check_otp_message(message, region=region)
    if isinstance(message, SMSMessage):
        return check_sms_message(message, region=region)
    if isinstance(message, BulkBatch):
        if not 1 <= len(message.messages) <= MAX_BULK_CHUNK:
            raise InvalidInputError(
                f"a bulk batch holds 1 to {MAX_BULK_CHUNK} messages, not {len(message.messages)}",
                field="messages",
            )
        checked = []
        for index, item in enumerate(message.messages):
            try:
                checked.append(check_bulk_message(item, region=region))
            except InvalidInputError as exc:
                exc.message = f"message {index}: {exc.message}"
                exc.args = (exc.message,)
                raise
        if all(a is b for a, b in zip(checked, message.messages, strict=True)):
            return message
        return dataclasses.replace(message, messages=tuple(checked))
    raise InvalidInputError(
        f"cannot send a {_type_name(message)}; expected OTPMessage, SMSMessage or BulkBatch",
        field="message",
    )


def _bulk_from_mapping(item: Mapping[Any, Any], index: int) -> BulkMessage:
    unknown = sorted(str(k) for k in item if k not in BULK_MESSAGE_KEYS)
    if unknown:
        raise InvalidInputError(
            f"bulk message {index} has unknown keys {', '.join(map(repr, unknown))}; the keys "
            f"are {', '.join(sorted(BULK_MESSAGE_KEYS))}",
            field="messages",
        )
    missing = [k for k in _BULK_REQUIRED if k not in item]
    if missing:
        raise InvalidInputError(
            f"bulk message {index} has no {' or '.join(map(repr, missing))}", field="messages"
        )
    return BulkMessage(
        to=item["to"],
        text=item["text"],
        sender=item.get("sender") or "",
        callback_value1=item.get("callback_value1"),
        callback_value2=item.get("callback_value2"),
        callback_format=item.get("callback_format"),
    )


def _as_bulk_message(item: object, index: int) -> BulkMessage:
    if isinstance(item, BulkMessage):
        return item
    if isinstance(item, Mapping):
        return _bulk_from_mapping(item, index)
    raise InvalidInputError(
        f"bulk message {index} is a {_type_name(item)}; give BulkMessage objects or mappings "
        f"with the keys {', '.join(sorted(BULK_MESSAGE_KEYS))}",
        field="messages",
    )


def coerce_bulk_messages(messages: object) -> Iterator[BulkMessage]:
    """The items of a bulk send as :class:`BulkMessage`, refusing a wrong shape once.

    Items may be :class:`BulkMessage` objects or plain mappings with the keys of
    :data:`BULK_MESSAGE_KEYS` (``to`` and ``text`` required; the shape read from CSV or
    JSON). An item of another type, or a mapping with an unknown or missing key, stops the
    send with one :class:`InvalidInputError` (``field="messages"``): for a list or tuple,
    before anything is sent; for a lazy iterator, when it is reached (the chunks before it
    are already sent). A message whose *values* are wrong is a per-message rejection.
    """
    if isinstance(messages, str | bytes | bytearray | Mapping | BulkMessage) or not isinstance(
        messages, Iterable
    ):
        raise InvalidInputError(
            f"messages must be an iterable of bulk messages, not {_type_name(messages)}",
            field="messages",
        )
    if isinstance(messages, Sequence):
        # Known in full: refuse a wrong item before the first request, not half-way.
        return iter([_as_bulk_message(item, i) for i, item in enumerate(messages)])
    return (_as_bulk_message(item, i) for i, item in enumerate(messages))


def validate_api_key(api_key: object) -> str:
    """A 2Factor API key as the dashboard shows it: letters, digits, ``-``, 8 to 128.

    The message never repeats the value: it is a secret.
    """
    if not isinstance(api_key, str) or not _API_KEY.fullmatch(api_key):
        raise InvalidInputError(
            "api_key must be the 2Factor API key (letters, digits and '-', 8 to 128)",
            field="api_key",
        )
    return api_key
