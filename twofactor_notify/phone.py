"""Phone numbers: parse what people type, validate with libphonenumber, format per endpoint.

2Factor's endpoints each show a different form in the reference:

* V1 OTP paths (``/SMS/{phone}/AUTOGEN``): the 10-digit national number for India
  (``Invalid Phone Number - Length Mismatch(Expected: 10)``), the international digits
  elsewhere;
* R1 ``to``: ``91XXXXXXXXXX``, several joined by commas;
* Bulk ``smsTo``: ``+91XXXXXXXXXX``.

Everything inside the library carries numbers as E.164 strings (``+919876543210``); the
client formats them per endpoint at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers

from .errors import InvalidPhoneNumberError

__all__ = [
    "DEFAULT_REGION",
    "bulk_form",
    "normalize_phone",
    "r1_form",
    "region_of",
    "report_number",
    "v1_path_form",
]

#: Region assumed for numbers typed without a country code.
DEFAULT_REGION = "IN"

_MAX_INPUT = 32
# What a typed number may hold besides digits: "+", spaces and the usual separators.
# Letters ("x", "ext."), "#", ";" and anything else are refused rather than read past:
# libphonenumber takes "+1 202 555 0143x" or "... ext. 12" for a valid number, and would
# send to the number without its extension.
_PHONE_CHARS = re.compile(r"[0-9 +\-().]+")


@lru_cache(maxsize=4096)
def _parse(raw: str, region: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumberError("phone number is empty", field="phone")
    if len(text) > _MAX_INPUT:
        raise InvalidPhoneNumberError("phone number is too long", field="phone")
    if not _PHONE_CHARS.fullmatch(text):
        raise InvalidPhoneNumberError(
            "phone number may hold only digits, spaces, '+', '-', '.' and brackets "
            "(no extension or other text after it)",
            field="phone",
        )
    # "0091…" and "00 91…" are the international prefix typed out; "091…" / "0919876543210"
    # is India's trunk 0 before the country code, which people type as well.
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("00"):
        text = "+" + text.lstrip("0 ")
    elif region == "IN" and text.startswith("0") and len(digits) == 13 and digits[1:3] == "91":
        text = "+" + digits[1:]
    elif (
        region == "IN"
        and len(digits) == 12
        and digits.startswith("91")
        and not text.startswith("+")
    ):
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError(
            f"phone number could not be parsed ({_error_type_name(exc)})", field="phone"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumberError(
            "phone number is not a valid number for its country", field="phone"
        )
    kind = phonenumbers.number_type(number)
    if kind in _NO_SMS:
        raise InvalidPhoneNumberError(
            f"phone number is a {_NO_SMS[kind]} number, which cannot receive SMS", field="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Number types that cannot receive an SMS. Premium-rate and shared-cost numbers are also
# where SMS-pumping fraud sends its traffic. Fixed lines are not refused: some countries
# deliver SMS to them, and the metadata's fixed-line ranges are not exact enough to refuse
# a user on.
_NO_SMS = {
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll-free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium-rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared-cost",
    phonenumbers.PhoneNumberType.UAN: "universal access",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


def _error_type_name(exc: phonenumbers.NumberParseException) -> str:
    return {
        0: "invalid country code",
        1: "not a number",
        2: "too short after the international prefix",
        3: "too short",
        4: "too long",
    }.get(exc.error_type, "unparsable")


def normalize_phone(
    raw: str,
    *,
    region: str = DEFAULT_REGION,
    allowed_regions: Iterable[str] | None = None,
) -> str:
    """Return ``raw`` as an E.164 string, or raise :class:`InvalidPhoneNumberError`.

    Accepts the forms people type: ``9876543210``, ``+91 98765 43210``, ``091-9876543210``,
    ``0919876543210``, ``919876543210``, ``0091 98765 43210``. Refuses anything else in
    the string: letters, an extension (``x12``, ``ext. 12``, ``#12``), other symbols.

    :param region: the region assumed when no country code is given (default India).
    :param allowed_regions: when given, numbers of other regions are refused.
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumberError(
            f"phone number must be a string, not {type(raw).__name__}", field="phone"
        )
    e164 = _parse(raw, region.upper())
    if allowed_regions is not None:
        allowed = {r.upper() for r in allowed_regions}
        if region_of(e164) not in allowed:
            raise InvalidPhoneNumberError(
                f"phone numbers of region {region_of(e164)} are not allowed", field="phone"
            )
    return e164


_INDIAN_MOBILE = re.compile(r"[6-9][0-9]{9}")
_DIGITS = re.compile(r"[0-9]{8,15}")


@lru_cache(maxsize=4096)
def report_number(raw: str) -> str:
    """A number as a delivery or click report carries it, in the E.164 form of the message log.

    The one place where a report's ``SmsTo`` / ``phoneNo`` meets the log's numbers, for every
    country: 2Factor (and the emulator) write an Indian number as its 10 national digits and
    any other as its international digits without the ``+`` (``447911123499``,
    ``12025550188``). Anything else is read as :func:`normalize_phone` reads a typed
    number. A number that reads no way is returned as it came: a report is never dropped
    for its number's form.
    """
    if not raw:
        return ""
    # Fast path for what 2Factor sends most (an Indian mobile): libphonenumber costs tens of
    # microseconds a number and gives "+91" + the digits for every such number.
    if _INDIAN_MOBILE.fullmatch(raw):
        return "+91" + raw
    if len(raw) != 10 and _DIGITS.fullmatch(raw) and not raw.startswith("0"):
        try:
            return _parse("+" + raw, DEFAULT_REGION)  # international digits without "+"
        except InvalidPhoneNumberError:
            pass
    try:
        return _parse(raw, DEFAULT_REGION)
    except InvalidPhoneNumberError:
        return raw


@lru_cache(maxsize=4096)
def region_of(e164: str) -> str:
    """The two-letter region of an E.164 number (``"IN"``), or ``"ZZ"`` if unknown."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.region_code_for_number(number) or "ZZ"


def v1_path_form(e164: str) -> str:
    """The form V1 OTP paths take: the 10-digit national number for India, else digits."""
    if e164.startswith("+91") and len(e164) == 13:
        return e164[3:]
    return e164.lstrip("+")


def r1_form(e164: str) -> str:
    """The form R1's ``to`` takes: country code and number, digits only (``91XXXXXXXXXX``)."""
    return e164.lstrip("+")


def bulk_form(e164: str) -> str:
    """The form Bulk's ``smsTo`` takes: E.164 with the plus (``+91XXXXXXXXXX``)."""
    return e164
