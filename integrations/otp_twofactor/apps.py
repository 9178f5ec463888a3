"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class OTPTwoFactorConfig(AppConfig):
    """The ``otp_twofactor`` app."""

    name = "otp_twofactor"
    verbose_name = "django-otp: 2Factor SMS"
    default_auto_field = "django.db.models.BigAutoField"
