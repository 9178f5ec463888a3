"""Phone number forms, as each endpoint of the reference writes them.

Deliberately regex-only (no libphonenumber): the bulk endpoint checks up to 1000 numbers
per request and must stay fast, and the emulator should judge the *form* a client sends,
as 2Factor does, not guess what the client meant.

* V1 paths: the 10-digit national number (``+91``/``91``/``0`` before it is tolerated, as
  the sandbox example ``+919920123456`` shows);
* R1 ``to``: ``91XXXXXXXXXX`` (digits only, country code first), comma-separated;
* Bulk ``smsTo``: ``+91XXXXXXXXXX`` (international, optional ``+``).
"""

from __future__ import annotations

import re

__all__ = [
    "BULK_DIGITS_REASON",
    "BULK_FORMAT_REASON",
    "bulk_rejection",
    "inspection_key",
    "national_form",
    "parse_r1_phone",
    "parse_v1_phone",
]

#: The reference's rejection reasons for bulk ``smsTo`` values.
BULK_DIGITS_REASON = "Phone number should only contain digits (with optional leading + sign)"
BULK_FORMAT_REASON = "Phone number must match the required format"

_V1 = re.compile(r"(?:\+91|91|0)?([0-9]{10})")
_BULK_DIGITS = re.compile(r"\+?[0-9]+")
# India: 91 + 10 digits; elsewhere: an E.164 length (country code not starting with 0).
_INTERNATIONAL = re.compile(r"\+?(?:91[0-9]{10}|(?!91)[1-9][0-9]{10,14})")
_R1 = re.compile(r"91[0-9]{10}|(?!91)[1-9][0-9]{10,14}")


def parse_v1_phone(segment: str) -> str | None:
    """The E.164 form of a V1 path's phone segment, or ``None`` when it is not 10 digits."""
    match = _V1.fullmatch(segment.strip())
    return "+91" + match.group(1) if match else None


def parse_r1_phone(value: str) -> str | None:
    """The E.164 form of one R1 ``to`` entry (``91XXXXXXXXXX``), or ``None``."""
    text = value.strip()
    return "+" + text if _R1.fullmatch(text) else None


def bulk_rejection(value: str) -> str | None:
    """Why a bulk ``smsTo`` is rejected (the reference's reasons), or ``None`` if it is fine."""
    if not _BULK_DIGITS.fullmatch(value):
        return BULK_DIGITS_REASON
    if not _INTERNATIONAL.fullmatch(value):
        return BULK_FORMAT_REASON
    return None


def national_form(e164: str) -> str:
    """The form webhooks carry (``SmsTo``, ``phoneNo``): 10 digits for India, else digits."""
    if e164.startswith("+91") and len(e164) == 13:
        return e164[3:]
    return e164.lstrip("+")


def inspection_key(typed: str) -> str:
    """Any typed form of a number, as the E.164 key the inspection API files it under.

    ``9876543210``, ``09876543210``, ``919876543210``, ``+91 98765-43210`` and
    ``0091 9876543210`` all give ``+919876543210``.
    """
    text = typed.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 10:
        return "+91" + digits
    if len(digits) == 11 and digits.startswith("0"):
        return "+91" + digits[1:]
    if len(digits) == 13 and digits.startswith("091"):
        return "+" + digits[1:]
    return "+" + digits
