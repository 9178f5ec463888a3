"""App configuration of the two_factor method."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig


class TwoFactorSMSMethodConfig(AppConfig):
    """Registers "SMS via 2Factor" in django-two-factor-auth's method registry."""

    name = "otp_twofactor.two_factor"
    # two_factor itself is labelled "two_factor": this app needs a label of its own
    label = "otp_twofactor_two_factor"
    verbose_name = "django-two-factor-auth: SMS via 2Factor"
    path = str(Path(__file__).resolve().parent)

    def ready(self) -> None:
        """Register the method (once; two_factor's registry ignores a second one) and the
        system check of the URLs."""
        from two_factor.plugins.registry import registry

        from . import checks  # noqa: F401 - registers otp_twofactor.W002
        from .method import TwoFactorSMSMethod

        registry.register(TwoFactorSMSMethod())
