"""App configuration."""

from __future__ import annotations

from django.apps import AppConfig


class DjangoTwoFactorConfig(AppConfig):
    """The ``django_twofactor`` app."""

    name = "django_twofactor"
    verbose_name = "2Factor SMS"
    default_auto_field = "django.db.models.BigAutoField"
