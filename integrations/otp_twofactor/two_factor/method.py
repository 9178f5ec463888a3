"""The "SMS via 2Factor" method of django-two-factor-auth."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from two_factor.plugins.registry import MethodBase

from ..models import TwoFactorSMSDevice
from .forms import AuthenticationTokenForm, DeviceValidationForm, PhoneNumberForm

__all__ = ["TwoFactorSMSMethod"]


class TwoFactorSMSMethod(MethodBase):  # type: ignore[misc]
    """:class:`~otp_twofactor.models.TwoFactorSMSDevice` as a two_factor method.

    The setup wizard asks for a number (step ``"twofactor_sms"``), sends a code through the
    device and checks it (step ``"validation"``); the device it confirms is named
    ``"default"``, two_factor's primary device. Every confirmed device of the user is
    offered in the login wizard: the primary one first, the others as alternatives.
    """

    code = "twofactor_sms"
    verbose_name = _("SMS via 2Factor")

    def get_devices(self, user: Any) -> Any:
        """The user's confirmed devices."""
        return TwoFactorSMSDevice.objects.devices_for_user(user, confirmed=True)

    def recognize_device(self, device: Any) -> bool:
        """True for a :class:`TwoFactorSMSDevice`."""
        return isinstance(device, TwoFactorSMSDevice)

    def get_setup_forms(self, wizard: Any) -> dict[str, type[Any]]:
        """The number, then the code sent to it."""
        return {self.code: PhoneNumberForm, "validation": DeviceValidationForm}

    def get_device_from_setup_data(
        self, request: HttpRequest, setup_data: Any, **kwargs: Any
    ) -> TwoFactorSMSDevice:
        """The user's unconfirmed ``"default"`` device for the number typed in setup.

        The same row serves every request of one setup (the code sent is pending in it), and
        of every setup the user starts again. A changed number replaces its number and voids
        the code sent to the old one, but keeps the cooldown: a code goes to the corrected
        number once ``OTP_TWOFACTOR_COOLDOWN_DURATION`` has passed since the last one, so
        that changing numbers cannot send SMS faster than that.
        """
        number = str(((setup_data or {}).get(self.code) or {}).get("number") or "")
        device: TwoFactorSMSDevice | None = (
            TwoFactorSMSDevice.objects.filter(user=request.user, name="default", confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            return TwoFactorSMSDevice(
                user=request.user, name="default", confirmed=False, number=number
            )
        if number:
            candidate = TwoFactorSMSDevice(number=number)
            candidate.clean()
            if candidate.number != device.number:
                device.number = candidate.number
                device.token = device.otp_session_id = None
                device.save(update_fields=["number", "token", "otp_session_id"])
        return device

    def get_token_form_class(self) -> type[Any]:
        """A token form for 4 to 6 digit codes."""
        return AuthenticationTokenForm

    def get_action(self, device: Any) -> Any:
        """The button that sends a code to this device (login alternatives, profile)."""
        return _("Send a text message to %(number)s via 2Factor") % {"number": device.masked_number}

    def get_verbose_action(self, device: Any) -> Any:
        """What the login wizard says above the code field: "sent" only when it was."""
        status = getattr(device, "challenge_status", None)
        if status == "not_sent":
            return _("No text message went out. Ask for a new code below.")
        if status == "unknown":
            return _(
                "We could not confirm that a text message went out. If a code arrives, enter "
                "it below."
            )
        if status == "cooling_down":
            return _("No new text message was sent. Enter the last code we sent, if you have it.")
        return _("We sent you a text message, please enter the code we sent.")
