"""Forms of the phone login: the number, then the code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from twofactor_notify.errors import InvalidInputError
from twofactor_notify.validation import validate_otp_phone

from .conf import get_settings

__all__ = ["CodeForm", "PhoneForm"]


class PhoneForm(forms.Form):
    """Asks for a phone number; ``cleaned_data["phone"]`` is E.164."""

    phone = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone(self) -> str:
        """Normalise the number with ``TWOFACTOR_NOTIFY['REGION']``; it must be one 2Factor
        sends OTPs to (an Indian number)."""
        raw = self.cleaned_data["phone"]
        try:
            return validate_otp_phone(raw, region=get_settings().region)
        except InvalidInputError as exc:
            raise forms.ValidationError(
                _("Enter a valid phone number (%(reason)s)."),
                code="invalid_phone",
                params={"reason": exc.message},
            ) from None


class _CodeInput(forms.TextInput):
    """A text input that never writes back what was typed: a code refused because 2Factor
    could not be reached is still valid, and the page would carry it."""

    def format_value(self, value: Any) -> str | None:
        """Nothing: the field is always shown empty."""
        return None


class CodeForm(forms.Form):
    """Asks for the code received by SMS (4 to 6 digits)."""

    token = forms.CharField(
        label=_("Code"),
        min_length=4,
        max_length=6,
        validators=[RegexValidator(r"^[0-9]{4,6}$", _("Enter the digits you received."))],
        widget=_CodeInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
        ),
    )

    def clean_token(self) -> str:
        """Strip surrounding spaces."""
        return str(self.cleaned_data["token"]).strip()
