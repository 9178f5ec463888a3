"""Checks made before any request, for what the reference says 2Factor rejects.

Each check returns the cleaned value or raises :class:`InvalidInputError` (or a subclass)
naming the field. Values that go into URL paths are also restricted to characters that
cannot change the path (no ``/``, no ``..``), and are percent-encoded by the client anyway.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

from .errors import InvalidInputError, OTPError

__all__ = [
    "IST",
    "MAX_BULK_CHUNK",
    "MAX_TEXT_LENGTH",
    "MIN_SCHEDULE_AHEAD",
    "format_schedule_time",
    "validate_campaign_name",
    "validate_dlt_id",
    "validate_otp_code",
    "validate_sender",
    "validate_session_id",
    "validate_template",
    "validate_text",
    "validate_webhook_url",
]

#: 2Factor takes at most 1000 messages per bulk request.
MAX_BULK_CHUNK = 1000
#: Longest message text the bulk endpoint accepts (applied to R1 too).
MAX_TEXT_LENGTH = 1000
#: ``scheduletime`` must be at least this far in the future.
MIN_SCHEDULE_AHEAD = timedelta(minutes=5)
#: India Standard Time: the clock ``scheduletime`` is read in (no daylight saving).
IST = timezone(timedelta(hours=5, minutes=30), "IST")

_OTP = re.compile(r"[0-9]{4,6}")
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")
_TEMPLATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _\-]{0,63}")
_SENDER = re.compile(r"[A-Za-z0-9]{1,6}")
_DLT_ID = re.compile(r"[0-9]{1,30}")


def validate_otp_code(code: object, *, field: str = "otp") -> str:
    """An OTP is 4 to 6 digits (``Invalid OTP Code - Length Mismatch(Expected: 4-6)``)."""
    if isinstance(code, int) and not isinstance(code, bool):
        raise OTPError("OTP must be given as a string of digits, not an int", field=field)
    if not isinstance(code, str) or not _OTP.fullmatch(code.strip()):
        raise OTPError("OTP must be 4 to 6 digits", field=field)
    return code.strip()


def validate_session_id(session_id: object) -> str:
    """A session id as 2Factor issues them: letters, digits, ``-`` and ``_``."""
    if not isinstance(session_id, str) or not _SESSION.fullmatch(session_id):
        raise InvalidInputError(
            "session_id must be letters, digits, '-' or '_' (at most 128)", field="session_id"
        )
    return session_id


def validate_template(template: object) -> str:
    """A template name: letters, digits, spaces, ``-`` and ``_`` (it becomes a path segment)."""
    if not isinstance(template, str) or not _TEMPLATE.fullmatch(template):
        raise InvalidInputError(
            "template must be letters, digits, spaces, '-' or '_' (at most 64)", field="template"
        )
    return template


def validate_sender(sender: object) -> str:
    """A DLT sender id (header): 1 to 6 letters or digits, e.g. ``TFACTR``."""
    if not isinstance(sender, str) or not sender:
        raise InvalidInputError("sender is required (a DLT-approved sender id)", field="sender")
    if not _SENDER.fullmatch(sender):
        raise InvalidInputError(
            "sender must be 1 to 6 letters or digits (a DLT sender id such as 'TFACTR')",
            field="sender",
        )
    return sender


def validate_text(text: object, *, field: str = "text") -> str:
    """Message text: not empty, at most 1000 characters."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("message text is empty", field=field)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInputError(
            f"message text is {len(text)} characters; at most {MAX_TEXT_LENGTH}", field=field
        )
    return text


def validate_dlt_id(value: object, *, field: str) -> str:
    """A DLT PE id or CT id: digits only."""
    if not isinstance(value, str) or not _DLT_ID.fullmatch(value):
        raise InvalidInputError(f"{field} must be the DLT id's digits", field=field)
    return value


def validate_campaign_name(value: object) -> str:
    """A click-tracking campaign name: 1 to 100 printable characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise InvalidInputError("campaign_name must be 1 to 100 characters", field="campaign_name")
    if not value.isprintable():
        raise InvalidInputError("campaign_name must be printable", field="campaign_name")
    return value


def validate_webhook_url(value: object, *, field: str) -> str:
    """A webhook URL 2Factor will POST to: absolute ``http`` or ``https``."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a URL", field=field)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"{field} must be an absolute http(s) URL", field=field)
    return value


def format_schedule_time(when: datetime, *, now: datetime | None = None) -> str:
    """``scheduletime`` as 2Factor reads it: ``YYYY-MM-DD HH:MM:SS`` in India Standard Time.

    A naive ``when`` is taken as IST. It must be at least 5 minutes after ``now``.
    """
    if not isinstance(when, datetime):
        raise InvalidInputError("schedule_at must be a datetime", field="schedule_at")
    aware = when.replace(tzinfo=IST) if when.tzinfo is None else when
    current = now or datetime.now(UTC)
    if aware - current < MIN_SCHEDULE_AHEAD:
        raise InvalidInputError(
            "schedule_at must be at least 5 minutes in the future", field="schedule_at"
        )
    return aware.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")
