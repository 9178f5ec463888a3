"""Errors of the ``otp_twofactor`` plugin."""

from __future__ import annotations

import traceback

from twofactor_notify.errors import TwoFactorError

__all__ = ["ChallengeDeliveryError"]


class ChallengeDeliveryError(TwoFactorError):
    """The SMS challenge could not be delivered; no token from it is valid.

    The message is meant for the person logging in (django-otp's forms show it as
    "Error generating challenge: …"): it never holds the number, the token or what 2Factor
    said. The library error that caused it is chained as ``__cause__`` for logs.

    :param retry_allowed: ``False`` when the SMS may have gone out all the same (the send
        timed out), so the device's cooldown was kept.
    """

    def __init__(self, message: str, *, retry_allowed: bool = True) -> None:
        super().__init__(message)
        self.retry_allowed = retry_allowed


def stack_without_text(exc: BaseException) -> str:
    """Where ``exc`` was raised (files, lines, functions, source lines), without its text.

    An unexpected exception's text (a plugin's, a transport's) may quote the number or the
    code being sent: logs get its type and this stack, as the hook logs do, never its text.
    """
    return "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
