"""App configuration."""

from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig


class OTPTwoFactorConfig(AppConfig):
    """The ``otp_twofactor`` app."""

    name = "otp_twofactor"
    verbose_name = "django-otp: 2Factor SMS"
    default_auto_field = "django.db.models.BigAutoField"
    # An editable install can make the package look like a namespace package with two
    # locations; naming the path keeps Django from refusing the app.
    path = str(Path(__file__).resolve().parent)

    def ready(self) -> None:
        """Register the system checks; if sentry-sdk is installed, make Sentry scrub keys
        and codes from what it sends (:func:`twofactor_notify.sentry.install`)."""
        from twofactor_notify.sentry import install as install_sentry_scrubber

        from . import checks  # noqa: F401 - registers them

        install_sentry_scrubber()
