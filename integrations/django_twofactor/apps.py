"""App configuration."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig
from django.test.signals import setting_changed


class DjangoTwoFactorConfig(AppConfig):
    """The ``django_twofactor`` app: registers the system checks and the settings reset."""

    name = "django_twofactor"
    verbose_name = "2Factor SMS"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register checks; drop cached settings and transport when the setting changes;
        keep webhook tokens out of the access logs (runserver's, gunicorn's) and, if sentry-sdk
        is installed, out of what Sentry sends (:func:`twofactor_notify.sentry.install`);
        make Django's test environment switch the SMS backend to locmem
        (:mod:`django_twofactor.testenv`)."""
        from twofactor_notify.redaction import install_log_filter

        from . import (
            checks,  # noqa: F401 - registers the checks
            testenv,
        )
        from .backends import reset_backend  # noqa: F401 - registers the transport reset
        from .conf import setting_changed_receiver

        setting_changed.connect(setting_changed_receiver, dispatch_uid="django_twofactor.conf")
        # Django's test set-up switches e-mail to locmem; make it switch SMS too
        testenv.install()
        install_log_filter()
        # Sentry records frames, requests and URLs: scrub them, whatever init() was given
        from twofactor_notify.sentry import install as install_sentry_scrubber

        install_sentry_scrubber()
        from twofactor_notify.errors import ConfigurationError

        from .conf import get_settings

        # reading the settings registers the webhook token with the log filter, before any
        # request; a configuration error is the system checks' to report, with its key
        with contextlib.suppress(ConfigurationError):
            get_settings()
        from .background import connect_worker

        connect_worker()  # the Celery task finds this app's sender (BACKGROUND["ENGINE"])
