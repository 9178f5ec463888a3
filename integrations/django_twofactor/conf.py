"""The ``TWOFACTOR_NOTIFY`` setting: one dict, read once, defaults filled in.

:func:`get_settings` parses ``settings.TWOFACTOR_NOTIFY`` into a frozen
:class:`TwoFactorSettings` and caches it. The cache (and the shared transport built from it)
is dropped when Django's ``setting_changed`` signal names ``TWOFACTOR_NOTIFY``, so
``override_settings`` and pytest-django's ``settings`` fixture work in tests.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

__all__ = [
    "BACKEND_ALIASES",
    "DEFAULTS",
    "SETTING_NAME",
    "TwoFactorSettings",
    "get_settings",
    "on_reset",
    "reset_settings",
]

#: Name of the one Django setting this app reads.
SETTING_NAME = "TWOFACTOR_NOTIFY"

#: Short backend names and the classes they stand for. A dotted path works as well.
BACKEND_ALIASES: dict[str, str] = {
    "2factor": "django_twofactor.backends.twofactor.SMSBackend",
    "twofactor": "django_twofactor.backends.twofactor.SMSBackend",
    "console": "django_twofactor.backends.console.SMSBackend",
    "locmem": "django_twofactor.backends.locmem.SMSBackend",
    "memory": "django_twofactor.backends.locmem.SMSBackend",
    "file": "django_twofactor.backends.filebased.SMSBackend",
    "dummy": "django_twofactor.backends.dummy.SMSBackend",
}

#: Every key of ``TWOFACTOR_NOTIFY`` and its default (see docs/django-settings.md).
DEFAULTS: dict[str, Any] = {
    "BACKEND": "2factor",
    "API_KEY": None,
    "SECRET_KEY": None,
    "BASE_URL": "https://2factor.in",
    "SENDER_ID": None,
    "OTP_TEMPLATE": None,
    "OTP_LENGTH": 6,
    "TIMEOUT": 10.0,
    "REGION": "IN",
    "RATE_LIMIT": None,
    "PLUGINS": (),
    "LOAD_ENTRYPOINTS": None,
    "WEBHOOK_TOKEN": None,
    "WEBHOOK_QUERY_TOKEN": False,
    "FILE_PATH": None,
    "SHOW_OTP": False,
    "LOG_MESSAGES": True,
    "STORE_MESSAGE_TEXT": False,
    "LOG_RETENTION_DAYS": 90,
    "PHONE_FIELD": "phone",
    "CREATE_USERS": False,
    "LOGIN_MAX_ATTEMPTS": 5,
    "LOGIN_LOCKOUT_SECONDS": 900,
    "SEND_LIMIT": 3,
    "SEND_WINDOW_SECONDS": 600,
    "CACHE_ALIAS": "default",
}


@dataclass(frozen=True)
class TwoFactorSettings:
    """The parsed ``TWOFACTOR_NOTIFY`` setting. Secrets are hidden from ``repr``.

    ``unknown_keys`` lists keys the dict holds that this app does not know (a typo, most
    likely); the system checks warn about them.
    """

    backend: str
    api_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    base_url: str
    sender_id: str | None
    otp_template: str | None
    otp_length: int
    timeout: float
    region: str
    rate_limit: float | None
    plugins: tuple[object, ...]
    load_entrypoints: bool | None
    webhook_token: str | None = field(repr=False)
    webhook_query_token: bool
    file_path: str | None
    show_otp: bool
    log_messages: bool
    store_message_text: bool
    log_retention_days: int | None
    phone_field: str
    create_users: bool
    login_max_attempts: int
    login_lockout_seconds: int
    send_limit: int
    send_window_seconds: int
    cache_alias: str
    unknown_keys: tuple[str, ...] = ()

    @property
    def backend_path(self) -> str:
        """The dotted path of the backend class (aliases resolved)."""
        return BACKEND_ALIASES.get(self.backend.lower(), self.backend)

    @classmethod
    def from_mapping(cls, raw: Mapping[Any, Any] | None) -> TwoFactorSettings:
        """Build from the raw setting; missing keys take :data:`DEFAULTS`.

        Raises ``TypeError`` or ``ValueError`` (naming the key, never the value) when a
        number is not a number. ``WEBHOOK_TOKEN`` that is not a string counts as unset, so
        the webhooks refuse every request (the system checks report it: ``E011``).
        """
        data = dict(DEFAULTS)
        data.update(raw or {})
        unknown = tuple(
            sorted(k if isinstance(k, str) else repr(k) for k in (raw or {}) if k not in DEFAULTS)
        )
        plugins = data["PLUGINS"] or ()
        if isinstance(plugins, str):
            plugins = (plugins,)
        retention = data["LOG_RETENTION_DAYS"]
        rate = data["RATE_LIMIT"]
        token = data["WEBHOOK_TOKEN"]
        return cls(
            backend=str(data["BACKEND"]),
            api_key=data["API_KEY"] or None,
            secret_key=data["SECRET_KEY"] or None,
            base_url=str(data["BASE_URL"]),
            sender_id=data["SENDER_ID"] or None,
            otp_template=data["OTP_TEMPLATE"] or None,
            otp_length=_int("OTP_LENGTH", data["OTP_LENGTH"]),
            timeout=_float("TIMEOUT", data["TIMEOUT"]),
            region=str(data["REGION"]).upper(),
            rate_limit=_float("RATE_LIMIT", rate) if rate else None,
            plugins=tuple(plugins),
            load_entrypoints=data["LOAD_ENTRYPOINTS"],
            webhook_token=token if isinstance(token, str) and token else None,
            webhook_query_token=bool(data["WEBHOOK_QUERY_TOKEN"]),
            file_path=str(data["FILE_PATH"]) if data["FILE_PATH"] else None,
            show_otp=bool(data["SHOW_OTP"]),
            log_messages=bool(data["LOG_MESSAGES"]),
            store_message_text=bool(data["STORE_MESSAGE_TEXT"]),
            log_retention_days=(
                _int("LOG_RETENTION_DAYS", retention) if retention is not None else None
            ),
            phone_field=str(data["PHONE_FIELD"]),
            create_users=bool(data["CREATE_USERS"]),
            login_max_attempts=_int("LOGIN_MAX_ATTEMPTS", data["LOGIN_MAX_ATTEMPTS"]),
            login_lockout_seconds=_int("LOGIN_LOCKOUT_SECONDS", data["LOGIN_LOCKOUT_SECONDS"]),
            send_limit=_int("SEND_LIMIT", data["SEND_LIMIT"]),
            send_window_seconds=_int("SEND_WINDOW_SECONDS", data["SEND_WINDOW_SECONDS"]),
            cache_alias=str(data["CACHE_ALIAS"]),
            unknown_keys=unknown,
        )


def _int(name: str, value: Any) -> int:
    """``int(value)``; ``ValueError`` naming ``name`` for infinities and other non-integers."""
    try:
        return int(value)
    except OverflowError:
        raise ValueError(f"{SETTING_NAME}['{name}'] must be a whole number") from None


def _float(name: str, value: Any) -> float:
    """``float(value)``; ``ValueError`` naming ``name`` when it is not finite."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{SETTING_NAME}['{name}'] must be a finite number")
    return number


_lock = threading.Lock()
_cached: TwoFactorSettings | None = None
_reset_callbacks: list[Callable[[], None]] = []


def get_settings() -> TwoFactorSettings:
    """The parsed ``TWOFACTOR_NOTIFY`` setting (cached until the setting changes)."""
    global _cached
    current = _cached
    if current is not None:
        return current
    with _lock:
        if _cached is None:
            raw = getattr(django_settings, SETTING_NAME, None)
            if raw is not None and not isinstance(raw, Mapping):
                raise TypeError(f"settings.{SETTING_NAME} must be a dict")
            _cached = TwoFactorSettings.from_mapping(raw)
        return _cached


def on_reset(callback: Callable[[], None]) -> Callable[[], None]:
    """Register ``callback`` to run whenever the cached settings are dropped."""
    _reset_callbacks.append(callback)
    return callback


def reset_settings() -> None:
    """Drop the cached settings and everything built from them (the shared transport)."""
    global _cached
    with _lock:
        _cached = None
    for callback in _reset_callbacks:
        callback()


def setting_changed_receiver(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: reset when ``TWOFACTOR_NOTIFY`` changes."""
    if setting == SETTING_NAME:
        reset_settings()
