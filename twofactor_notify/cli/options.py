"""Option values checked by the library's own rules while the command line is parsed.

An option that names a sender, a template, an OTP, a URL... is given a ``type=`` built by
:func:`checked`: argparse then refuses a bad value before the command runs (exit 2, nothing
sent, no file written), the same way for every command, with the rule the transports apply
(one definition, in :mod:`twofactor_notify.validation`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..errors import InvalidInputError
from ..validation import (
    validate_base_url,
    validate_campaign_name,
    validate_dlt_id,
    validate_otp_code,
    validate_otp_phone,
    validate_phone,
    validate_sender,
    validate_session_id,
    validate_template,
    validate_webhook_url,
)

__all__ = ["CHECKED_ATTRIBUTE", "checked", "option_type"]

#: Set on every type function :func:`checked` makes: the name of the rule it applies.
CHECKED_ATTRIBUTE = "core_check"


def checked(rule: Callable[[str], object], name: str) -> Callable[[str], str]:
    """An argparse ``type`` that applies ``rule`` (a ``validate_*`` function) to the text
    and keeps the text as given (the transports normalise it again)."""

    def check(text: str) -> str:
        try:
            rule(text)
        except InvalidInputError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return text

    check.__name__ = name  # argparse names the type in some messages
    setattr(check, CHECKED_ATTRIBUTE, name)
    return check


_TYPES: dict[str, Callable[[str], str]] = {
    "sender": checked(validate_sender, "sender id"),
    "template": checked(validate_template, "template name"),
    "otp": checked(validate_otp_code, "OTP"),
    "session_id": checked(validate_session_id, "session id"),
    "phone": checked(validate_phone, "phone number"),
    "otp_phone": checked(validate_otp_phone, "OTP phone number"),
    "pe_id": checked(lambda t: validate_dlt_id(t, field="pe_id"), "DLT id"),
    "ct_id": checked(lambda t: validate_dlt_id(t, field="ct_id"), "DLT id"),
    "campaign_name": checked(validate_campaign_name, "campaign name"),
    "url": checked(lambda t: validate_webhook_url(t, field="URL"), "URL"),
    "base_url": checked(lambda t: validate_base_url(t, field="--base-url"), "URL"),
}


def option_type(kind: str) -> Callable[[str], str]:
    """The checked ``type`` for an option of ``kind`` (``"sender"``, ``"phone"``, ``"url"``...)."""
    return _TYPES[kind]
