"""The forms of the "SMS via 2Factor" method in two_factor's wizards."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from two_factor.forms import AuthenticationTokenForm as BaseAuthenticationTokenForm

from ..models import validate_number

__all__ = ["AuthenticationTokenForm", "DeviceValidationForm", "PhoneNumberForm"]

#: 2Factor's codes have 4 to 6 digits (6 in local mode); leading zeros count.
CODE_PATTERN = r"^[0-9]{4,6}$"


def _code_field() -> forms.RegexField:
    field = forms.RegexField(
        label=_("Code"),
        regex=CODE_PATTERN,
        error_messages={"invalid": _("Enter the 4 to 6 digits of the code.")},
    )
    field.widget.attrs.update(
        {"autofocus": "autofocus", "inputmode": "numeric", "autocomplete": "one-time-code"}
    )
    return field


class PhoneNumberForm(forms.Form):
    """Setup step: the number the codes go to (any form people type; stored in E.164)."""

    number = forms.CharField(label=_("Phone number"), max_length=32, validators=[validate_number])
    # the wizard's "Back" button submits this form: an empty required field must not block it
    use_required_attribute = False


class DeviceValidationForm(forms.Form):
    """Setup step: the code just sent, checked by the device (kept as text: ``012345``)."""

    token = _code_field()
    idempotent = False  # a code is accepted once: never validate this step again
    use_required_attribute = False  # let "Back" (a submit button of this form) through

    error_messages = {"invalid_token": _("Entered code is not valid.")}

    def __init__(self, device: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device = device
        self.fields["token"].help_text = _("Sent by SMS to %(number)s.") % {
            "number": device.masked_number
        }

    def show_challenge_status(self, status: str) -> None:
        """Word the field's help after the last send's outcome (see ``send_challenge``)."""
        number = {"number": self.device.masked_number}
        texts = {
            "not_sent": _("No code was sent to %(number)s."),
            "unknown": _("A code may be on its way to %(number)s."),
            "cooling_down": _("No new code was sent to %(number)s."),
        }
        if status in texts:
            self.fields["token"].help_text = texts[status] % number

    def clean_token(self) -> str:
        """The code, if the device accepts it."""
        token = str(self.cleaned_data["token"])
        if not self.device.verify_token(token):
            raise forms.ValidationError(self.error_messages["invalid_token"], code="invalid")
        return token


class AuthenticationTokenForm(BaseAuthenticationTokenForm):  # type: ignore[misc]
    """Login step: two_factor's token form, for 4 to 6 digit codes of the chosen device."""

    otp_token = _code_field()
    otp_token.widget.attrs["pattern"] = "[0-9]*"

    def _chosen_device(self, user: Any) -> Any:
        return self.initial_device
