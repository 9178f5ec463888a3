"""Time as 2Factor writes it: India Standard Time, ``YYYY-MM-DD HH:MM:SS``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from twofactor_notify.validation import IST

__all__ = ["IST", "format_ist", "iso_utc", "parse_ist", "to_datetime"]

_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_datetime(epoch: float) -> datetime:
    """An aware UTC datetime for a ``time.time()`` value."""
    return datetime.fromtimestamp(epoch, UTC)


def format_ist(epoch: float) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in IST, as in ``SentAt`` / ``StatusAt`` / ``accessed``."""
    return datetime.fromtimestamp(epoch, IST).strftime(_FORMAT)


def parse_ist(text: str) -> float | None:
    """Read ``YYYY-MM-DD HH:MM:SS`` as IST; ``None`` when it is not in that form."""
    try:
        naive = datetime.strptime(text.strip(), _FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=IST).timestamp()


def iso_utc(epoch: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and ``Z`` (the bulk endpoint's ``timestamp``)."""
    moment = to_datetime(time.time() if epoch is None else epoch)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
