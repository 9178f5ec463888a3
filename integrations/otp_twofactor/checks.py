"""System checks of the ``otp_twofactor`` plugin.

``otp_twofactor.W001``: the plugins of ``TWOFACTOR_NOTIFY`` (a send guard, the message
log...) will not see the device's SMS, and why.

``otp_twofactor.W004``: the devices live in a file-based SQLite database without
``"transaction_mode": "IMMEDIATE"``, so concurrent verifications can fail with "database is
locked".
"""

from __future__ import annotations

from typing import Any

import django.conf
from django.apps import apps
from django.core.checks import CheckMessage, Warning, register
from django.db import connections, router

from twofactor_notify.errors import TwoFactorError

from . import conf

__all__ = ["check_device_plugins", "check_sqlite_transaction_mode"]


@register()
def check_device_plugins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the device's SMS bypass the plugins configured in ``TWOFACTOR_NOTIFY``."""
    if not apps.is_installed("django_twofactor"):
        return []
    try:
        if conf.settings.OTP_TWOFACTOR_NO_DELIVERY:
            return []
        configured = conf.settings.OTP_TWOFACTOR_TRANSPORT
        named_plugins = bool(
            (getattr(django.conf.settings, "TWOFACTOR_NOTIFY", None) or {}).get("PLUGINS")
        )
    except TwoFactorError:
        return []  # a malformed setting is reported where it is read
    shared = conf.shared_plugin_manager()
    if configured is not None:
        try:
            transport = conf._from_setting(configured)
        except TwoFactorError:
            return []  # otp_twofactor.E001 names OTP_TWOFACTOR_TRANSPORT
        if shared is not None and transport.plugin_manager is not shared:
            return [
                Warning(
                    "The plugins of TWOFACTOR_NOTIFY (and its message log) do not apply to the "
                    "SMS of otp_twofactor's devices: OTP_TWOFACTOR_TRANSPORT names a transport "
                    "with plugins of its own.",
                    hint=(
                        "Build that transport with "
                        "plugin_manager=django_twofactor.get_transport().plugin_manager, or "
                        "unset OTP_TWOFACTOR_TRANSPORT (and set OTP_TWOFACTOR_API_KEY, or "
                        "nothing, to send through TWOFACTOR_NOTIFY's transport)."
                    ),
                    id="otp_twofactor.W001",
                )
            ]
        return []
    if shared is None and named_plugins:
        return [
            Warning(
                "The plugins of TWOFACTOR_NOTIFY['PLUGINS'] do not apply to the SMS of "
                "otp_twofactor's devices: the django_twofactor transport that runs them cannot "
                "be built from TWOFACTOR_NOTIFY.",
                hint="Complete TWOFACTOR_NOTIFY (see the django_twofactor checks).",
                id="otp_twofactor.W001",
            )
        ]
    return []


@register()  # reads settings only: run by every check, runserver included
def check_sqlite_transaction_mode(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the devices' SQLite database starts its transactions DEFERRED.

    django-otp (``django_otp.verify_token``, its forms, two_factor's) reads the device inside
    a transaction and the device then writes its attempt count: on SQLite a DEFERRED
    transaction that has read cannot wait for another writer, so concurrent verifications of
    one device fail with "database is locked". ``BEGIN IMMEDIATE`` takes the write lock first
    and waits for it (up to the ``timeout`` option).
    """
    from .models import TwoFactorSMSDevice

    alias = router.db_for_write(TwoFactorSMSDevice)
    connection = connections[alias]
    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        return []
    mode = str((connection.settings_dict.get("OPTIONS") or {}).get("transaction_mode") or "")
    if mode.upper() in {"IMMEDIATE", "EXCLUSIVE"}:
        return []
    return [
        Warning(
            f"DATABASES[{alias!r}] is SQLite with DEFERRED transactions: concurrent "
            "verifications of one otp_twofactor device can fail with 'database is locked'.",
            hint=(
                f'Add "OPTIONS": {{"transaction_mode": "IMMEDIATE"}} to DATABASES[{alias!r}] '
                "(Django's advice for concurrent writes on SQLite)."
            ),
            id="otp_twofactor.W004",
        )
    ]
