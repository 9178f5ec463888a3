"""Errors of the ``otp_twofactor`` plugin."""

from __future__ import annotations

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
