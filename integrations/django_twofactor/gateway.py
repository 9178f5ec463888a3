"""An SMS gateway for django-two-factor-auth that sends through 2Factor.

In the project's settings::

    TWO_FACTOR_SMS_GATEWAY = "django_twofactor.gateway.TwoFactorGateway"

django-two-factor-auth calls ``send_sms(device=..., token=...)``; the token goes out
through 2Factor's custom-OTP endpoint with ``TWOFACTOR_NOTIFY['OTP_TEMPLATE']``, via the
shared transport (so hooks fire and the message log records it, without the token).
django-two-factor-auth itself is not imported: any object with a ``number`` attribute (a
string or a ``phonenumbers``/``phonenumber_field`` number) is a device here.
"""

from __future__ import annotations

from typing import Any

from twofactor_notify.boundary import ErrorBoundary
from twofactor_notify.errors import TwoFactorError
from twofactor_notify.models import OTPSent

from .backends import get_backend
from .conf import get_settings

__all__ = ["TwoFactorGateway", "VoiceCallNotSupported"]


class VoiceCallNotSupported(TwoFactorError, NotImplementedError):
    """2Factor voice OTP calls are not covered by twofactor-notify.

    A library error (so it leaves :meth:`TwoFactorGateway.make_call` without the frame that
    holds the token), and a ``NotImplementedError`` as before.
    """


def device_number(device: Any) -> str:
    """The device's number as a string (``PhoneNumber.as_e164`` when it has one)."""
    number = getattr(device, "number", None)
    if number is None:
        raise ValueError("the device has no 'number'")
    e164 = getattr(number, "as_e164", None)
    return str(e164 if e164 else number)


class TwoFactorGateway(ErrorBoundary):
    """``TWO_FACTOR_SMS_GATEWAY`` for django-two-factor-auth.

    Its methods are error boundaries: the token sent stays in the caller's frame only.
    """

    def send_sms(self, device: Any, token: str) -> OTPSent:
        """Send ``token`` to ``device.number`` with the configured OTP template."""
        return get_backend().transport.send_otp(
            device_number(device),
            otp=str(token),
            template=get_settings().otp_template,
            metadata={"source": "two_factor"},
        )

    def make_call(self, device: Any, token: str) -> None:
        """Not supported: raises :class:`VoiceCallNotSupported`.

        Leave ``TWO_FACTOR_CALL_GATEWAY`` unset (or point it at another provider) so that
        django-two-factor-auth does not offer phone calls.
        """
        raise VoiceCallNotSupported(
            "django_twofactor.gateway.TwoFactorGateway sends SMS only: 2Factor voice calls "
            "are not supported. Leave TWO_FACTOR_CALL_GATEWAY unset or use another gateway."
        )
