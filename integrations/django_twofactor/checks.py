"""System checks (``manage.py check``) for the ``TWOFACTOR_NOTIFY`` setting.

======================== ================================================================
id                       problem
======================== ================================================================
django_twofactor.E001    ``API_KEY`` missing while ``BACKEND`` is ``2factor``
django_twofactor.E002    ``SENDER_ID`` is not a DLT sender id (1 to 6 letters or digits)
django_twofactor.E003    a ``PLUGINS`` entry cannot be imported
django_twofactor.E004    ``WEBHOOK_TOKEN`` missing while the webhook URLs are routed
django_twofactor.E005    ``BACKEND`` is not a known name nor an importable backend class
django_twofactor.E006    ``FILE_PATH`` missing while ``BACKEND`` is ``file``
django_twofactor.E007    ``PHONE_FIELD`` is not a field of the user model (auth backend on)
django_twofactor.E008    ``API_KEY`` does not look like a 2Factor API key
django_twofactor.E009    ``OTP_TEMPLATE`` is not a valid template name
django_twofactor.E010    ``TWOFACTOR_NOTIFY`` is not a dict, or a value has the wrong type
django_twofactor.E011    ``WEBHOOK_TOKEN``, ``API_KEY`` or ``SECRET_KEY`` is not a string
django_twofactor.E012    ``CACHE_ALIAS`` is not a cache in ``settings.CACHES``
django_twofactor.E013    a limit (``LOGIN_MAX_ATTEMPTS``, ``LOGIN_LOCKOUT_SECONDS``,
                         ``SEND_LIMIT``, ``SEND_WINDOW_SECONDS``, ``LOG_RETENTION_DAYS``)
                         is under 1
django_twofactor.W001    ``TWOFACTOR_NOTIFY`` has keys this app does not know (typo?)
django_twofactor.W002    ``WEBHOOK_TOKEN`` is short (under 16 characters)
======================== ================================================================

No check ever prints a secret's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from twofactor_notify.errors import ConfigurationError, InvalidInputError
from twofactor_notify.hooks import load_plugin
from twofactor_notify.validation import validate_sender, validate_template

from .conf import BACKEND_ALIASES, DEFAULTS, SETTING_NAME, TwoFactorSettings

__all__ = ["check_settings"]

_API_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{7,127}")
_AUTH_BACKEND = "django_twofactor.auth.PhoneOTPBackend"
_MIN_TOKEN = 16


def _id(number: str) -> str:
    return f"django_twofactor.{number}"


@register()
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Check ``settings.TWOFACTOR_NOTIFY``; see the module docstring for the ids."""
    raw = getattr(settings, SETTING_NAME, None)
    if raw is not None and not isinstance(raw, Mapping):
        return [
            Error(
                f"settings.{SETTING_NAME} must be a dict.",
                hint=f"Set {SETTING_NAME} = {{'BACKEND': '2factor', 'API_KEY': ..., ...}}.",
                id=_id("E010"),
            )
        ]
    try:
        config = TwoFactorSettings.from_mapping(raw)
    except (TypeError, ValueError, OverflowError) as exc:
        return [
            Error(
                f"settings.{SETTING_NAME} holds a value of the wrong type ({type(exc).__name__}).",
                hint="Numbers (TIMEOUT, OTP_LENGTH, RATE_LIMIT, LOG_RETENTION_DAYS, the limits) "
                "must be numbers; see docs/django-settings.md.",
                id=_id("E010"),
            )
        ]
    messages: list[CheckMessage] = []
    messages += _check_keys(config)
    messages += _check_strings(raw or {})
    messages += _check_limits(config)
    messages += _check_cache(config)
    messages += _check_backend(config)
    messages += _check_values(config)
    messages += _check_plugins(config)
    if isinstance((raw or {}).get("WEBHOOK_TOKEN"), str | None):  # else E011 said it
        messages += _check_webhook(config)
    messages += _check_phone_field(config)
    return messages


def _check_keys(config: TwoFactorSettings) -> list[CheckMessage]:
    if not config.unknown_keys:
        return []
    return [
        Warning(
            f"{SETTING_NAME} has unknown keys: {', '.join(config.unknown_keys)}.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id=_id("W001"),
        )
    ]


_STRING_KEYS = ("WEBHOOK_TOKEN", "API_KEY", "SECRET_KEY")
_LIMITS = (
    ("LOGIN_MAX_ATTEMPTS", "login_max_attempts"),
    ("LOGIN_LOCKOUT_SECONDS", "login_lockout_seconds"),
    ("SEND_LIMIT", "send_limit"),
    ("SEND_WINDOW_SECONDS", "send_window_seconds"),
    ("LOG_RETENTION_DAYS", "log_retention_days"),
)


def _check_strings(raw: Mapping[Any, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in _STRING_KEYS:
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            # the type only: the value is a secret
            messages.append(
                Error(
                    f"{SETTING_NAME}['{key}'] must be a string, not {type(value).__name__}.",
                    hint="Read it from the environment as text, e.g. "
                    f"os.environ['TWOFACTOR_{key}'] (decode bytes first)."
                    + (
                        " Until then every webhook request is refused."
                        if key == "WEBHOOK_TOKEN"
                        else ""
                    ),
                    id=_id("E011"),
                )
            )
    return messages


def _check_limits(config: TwoFactorSettings) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, attribute in _LIMITS:
        value = getattr(config, attribute)
        if value is not None and value < 1:
            messages.append(
                Error(
                    f"{SETTING_NAME}['{key}'] = {value!r} must be at least 1.",
                    hint="LOGIN_MAX_ATTEMPTS = 0 would refuse every login, SEND_LIMIT = 0 every "
                    "code; see docs/django-settings.md for the defaults.",
                    id=_id("E013"),
                )
            )
    return messages


def _check_cache(config: TwoFactorSettings) -> list[CheckMessage]:
    if config.cache_alias in getattr(settings, "CACHES", {"default": {}}):
        return []
    return [
        Error(
            f"{SETTING_NAME}['CACHE_ALIAS'] = {config.cache_alias!r} is not in settings.CACHES.",
            hint="Name one of the caches in settings.CACHES (the throttle counters live there).",
            id=_id("E012"),
        )
    ]


def _check_backend(config: TwoFactorSettings) -> list[CheckMessage]:
    from .backends import BaseSMSBackend

    try:
        cls = import_string(config.backend_path)
        ok = isinstance(cls, type) and issubclass(cls, BaseSMSBackend)
    except ImportError:
        ok = False
    if not ok:
        return [
            Error(
                f"{SETTING_NAME}['BACKEND'] = {config.backend!r} is not an SMS backend.",
                hint="Use one of '2factor', 'console', 'locmem', 'file', 'dummy'"
                " or the dotted path of a django_twofactor.backends.BaseSMSBackend subclass.",
                id=_id("E005"),
            )
        ]
    messages: list[CheckMessage] = []
    uses_api = config.backend_path == BACKEND_ALIASES["2factor"]
    if uses_api and not config.api_key:
        messages.append(
            Error(
                f"{SETTING_NAME}['API_KEY'] is not set; the 2factor backend needs it.",
                hint="Set it from the environment, e.g. "
                "'API_KEY': os.environ['TWOFACTOR_API_KEY'], or use the 'console' backend "
                "in development.",
                id=_id("E001"),
            )
        )
    if config.api_key and not _API_KEY.fullmatch(str(config.api_key)):
        messages.append(
            Error(
                f"{SETTING_NAME}['API_KEY'] does not look like a 2Factor API key.",
                hint="Copy the key from the 2Factor dashboard: letters, digits and '-', "
                "8 to 128 characters.",
                id=_id("E008"),
            )
        )
    if config.backend_path == BACKEND_ALIASES["file"] and not config.file_path:
        messages.append(
            Error(
                f"{SETTING_NAME}['FILE_PATH'] is not set; the file backend needs a directory.",
                hint="Set 'FILE_PATH': BASE_DIR / 'sms-messages'.",
                id=_id("E006"),
            )
        )
    return messages


def _check_values(config: TwoFactorSettings) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if config.sender_id is not None:
        try:
            validate_sender(config.sender_id)
        except InvalidInputError:
            messages.append(
                Error(
                    f"{SETTING_NAME}['SENDER_ID'] = {config.sender_id!r} is not a DLT sender id.",
                    hint="A sender id (DLT header) is 1 to 6 letters or digits, e.g. 'TFACTR'.",
                    id=_id("E002"),
                )
            )
    if config.otp_template is not None:
        try:
            validate_template(config.otp_template)
        except InvalidInputError:
            messages.append(
                Error(
                    f"{SETTING_NAME}['OTP_TEMPLATE'] is not a valid template name.",
                    hint="Use the template's name as registered with 2Factor: letters, digits, "
                    "spaces, '-' and '_', at most 64 characters.",
                    id=_id("E009"),
                )
            )
    return messages


def _check_plugins(config: TwoFactorSettings) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for spec in config.plugins:
        if spec is None:
            messages.append(
                Error(
                    f"{SETTING_NAME}['PLUGINS'] holds None.",
                    hint="List plugin objects or their dotted paths.",
                    id=_id("E003"),
                )
            )
            continue
        if not isinstance(spec, str):
            continue
        try:
            load_plugin(spec)
        except ConfigurationError:
            messages.append(
                Error(
                    f"{SETTING_NAME}['PLUGINS'] entry {spec!r} cannot be imported.",
                    hint="Give the dotted path of a module, a class or an object holding "
                    "@hookimpl functions, e.g. 'myproject.sms.AuditPlugin'.",
                    id=_id("E003"),
                )
            )
    return messages


def _webhooks_routed() -> bool:
    try:
        reverse("django_twofactor:delivery")
    except NoReverseMatch:
        return False
    except Exception:  # a broken URLconf is reported by Django's own checks
        return False
    return True


def _check_webhook(config: TwoFactorSettings) -> list[CheckMessage]:
    token = config.webhook_token
    if not token:
        if not _webhooks_routed():
            return []
        return [
            Error(
                f"{SETTING_NAME}['WEBHOOK_TOKEN'] is not set but the delivery webhook is routed; "
                "every report would be refused (403).",
                hint="Set a long random token (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))') and register "
                "https://<host>/<prefix>/delivery/?token=<token> with 2Factor.",
                id=_id("E004"),
            )
        ]
    if len(str(token)) < _MIN_TOKEN:
        return [
            Warning(
                f"{SETTING_NAME}['WEBHOOK_TOKEN'] is shorter than {_MIN_TOKEN} characters.",
                hint="Anyone who guesses it can forge delivery reports; use "
                "secrets.token_urlsafe(32).",
                id=_id("W002"),
            )
        ]
    return []


def _check_phone_field(config: TwoFactorSettings) -> list[CheckMessage]:
    if _AUTH_BACKEND not in getattr(settings, "AUTHENTICATION_BACKENDS", ()):
        return []
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    user_model = get_user_model()
    first = config.phone_field.split("__")[0]
    try:
        user_model._meta.get_field(first)
    except FieldDoesNotExist:
        return [
            Error(
                f"{SETTING_NAME}['PHONE_FIELD'] = {config.phone_field!r} is not a field of "
                f"{user_model._meta.label}.",
                hint="Name the user model field (or a lookup such as 'profile__phone') that "
                "holds the phone number in E.164 form.",
                id=_id("E007"),
            )
        ]
    return []
