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
django_twofactor.E007    ``PHONE_FIELD`` is not a field (or a lookup through relations) of
                         the user model (auth backend on, or the login views routed)
django_twofactor.E008    ``API_KEY`` does not look like a 2Factor API key
django_twofactor.E009    ``OTP_TEMPLATE`` is not a valid template name
django_twofactor.E010    ``TWOFACTOR_NOTIFY`` is not a dict, or a value that every send would
                         trip on (``OTP_LENGTH`` not 4 or 6, ``TIMEOUT`` or
                         ``RATE_LIMIT`` not above 0, ``BASE_URL`` without a scheme, an
                         unknown ``REGION``, a flag that is not a boolean, ...)
django_twofactor.E011    ``WEBHOOK_TOKEN``, ``API_KEY`` or ``SECRET_KEY`` is not a string
django_twofactor.E012    ``CACHE_ALIAS`` is not a cache in ``settings.CACHES``
django_twofactor.E013    a limit (``LOGIN_MAX_ATTEMPTS``, ``LOGIN_LOCKOUT_SECONDS``,
                         ``SEND_LIMIT``, ``SEND_WINDOW_SECONDS``, ``LOG_RETENTION_DAYS``)
                         is under 1
django_twofactor.W001    ``TWOFACTOR_NOTIFY`` has keys this app does not know (typo?)
django_twofactor.W002    ``WEBHOOK_TOKEN`` is short (under 16 characters)
django_twofactor.W003    ``WEBHOOK_TOKEN`` has a character outside printable ASCII, or a
                         space: no ``X-TwoFactor-Token`` header can carry it reliably
======================== ================================================================

Every value is checked by :func:`django_twofactor.conf.settings_errors`, which applies the
core's rules (:mod:`twofactor_notify.config`, the checks a send makes); this module only
gives each problem its id and hint, and adds what needs Django (the cache, the URLconf, the
user model). No check ever prints a secret's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from twofactor_notify.errors import ConfigurationError

from .conf import BACKEND_ALIASES, DEFAULTS, SETTING_NAME, settings_errors

__all__ = ["backend_problem", "check_settings"]

_AUTH_BACKEND = "django_twofactor.auth.PhoneOTPBackend"
_MIN_TOKEN = 16
_LIMITS = (
    "LOGIN_MAX_ATTEMPTS",
    "LOGIN_LOCKOUT_SECONDS",
    "SEND_LIMIT",
    "SEND_WINDOW_SECONDS",
    "LOG_RETENTION_DAYS",
)
_SECRETS = ("API_KEY", "SECRET_KEY")


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
    data: dict[Any, Any] = {**DEFAULTS, **(raw or {})}
    messages: list[CheckMessage] = []
    messages += _check_keys(raw or {})
    messages += [_message(error, data) for error in settings_errors(raw)]
    messages += _check_cache(data["CACHE_ALIAS"])
    messages += _check_backend(data["BACKEND"])
    token = data["WEBHOOK_TOKEN"]
    if isinstance(token, str | None):
        messages += _check_webhook(token or None)
    else:
        messages.append(_not_a_string("WEBHOOK_TOKEN", token))
    messages += _check_phone_field(data["PHONE_FIELD"])
    return messages


def _check_keys(raw: Mapping[Any, Any]) -> list[CheckMessage]:
    unknown = sorted(k if isinstance(k, str) else repr(k) for k in raw if k not in DEFAULTS)
    if not unknown:
        return []
    return [
        Warning(
            f"{SETTING_NAME} has unknown keys: {', '.join(unknown)}.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id=_id("W001"),
        )
    ]


def _short_key(error: ConfigurationError) -> str:
    key = error.key or ""
    prefix = f"{SETTING_NAME}['"
    return key[len(prefix) : -2] if key.startswith(prefix) else key


def _not_a_string(key: str, value: object) -> CheckMessage:
    # the type only: the value is a secret
    return Error(
        f"{SETTING_NAME}['{key}'] must be a string, not {type(value).__name__}.",
        hint="Read it from the environment as text, e.g. "
        f"os.environ['TWOFACTOR_{key}'] (decode bytes first)."
        + (" Until then every webhook request is refused." if key == "WEBHOOK_TOKEN" else ""),
        id=_id("E011"),
    )


def _message(error: ConfigurationError, data: Mapping[Any, Any]) -> CheckMessage:
    """The system-check message for one problem :func:`settings_errors` found."""
    key = _short_key(error)
    value = data.get(key)
    text = error.message.rstrip(".") + "."
    if key in _SECRETS and value is not None and not isinstance(value, str):
        return _not_a_string(key, value)
    if key == "API_KEY" and "required" in error.message:
        hint = (
            "Set it from the environment, e.g. 'API_KEY': os.environ['TWOFACTOR_API_KEY'], "
            "or use the 'console' backend in development."
        )
        return Error(text, hint=hint, id=_id("E001"))
    if key == "API_KEY":
        hint = "Copy the key from the 2Factor dashboard: letters, digits and '-', 8 to 128."
        return Error(text, hint=hint, id=_id("E008"))
    if key == "SENDER_ID":
        hint = "A sender id (DLT header) is 1 to 6 letters or digits, e.g. 'TFACTR'."
        return Error(text, hint=hint, id=_id("E002"))
    if key == "PLUGINS":
        hint = (
            "Give the dotted path of a module, a class or an object holding @hookimpl "
            "functions, e.g. 'myproject.sms.AuditPlugin'."
        )
        return Error(text, hint=hint, id=_id("E003"))
    if key == "BACKEND":
        return _bad_backend(value)
    if key == "FILE_PATH" and "required" in error.message:
        return Error(text, hint="Set 'FILE_PATH': BASE_DIR / 'sms-messages'.", id=_id("E006"))
    if key == "OTP_TEMPLATE":
        hint = (
            "Use the template's name as registered with 2Factor: letters, digits, spaces, "
            "'-' and '_', at most 64 characters."
        )
        return Error(text, hint=hint, id=_id("E009"))
    if key in _LIMITS and isinstance(value, int | float) and value < 1:
        hint = (
            "LOGIN_MAX_ATTEMPTS = 0 would refuse every login, SEND_LIMIT = 0 every code; "
            "see docs/django-settings.md for the defaults."
        )
        return Error(text, hint=hint, id=_id("E013"))
    return Error(text, hint="See docs/django-settings.md for what each key takes.", id=_id("E010"))


def _bad_backend(backend: object) -> CheckMessage:
    return Error(
        f"{SETTING_NAME}['BACKEND'] = {backend!r} is not an SMS backend.",
        hint="Use one of '2factor', 'console', 'locmem', 'file', 'dummy'"
        " or the dotted path of a django_twofactor.backends.BaseSMSBackend subclass.",
        id=_id("E005"),
    )


def _check_cache(alias: object) -> list[CheckMessage]:
    if not isinstance(alias, str) or alias in getattr(settings, "CACHES", {"default": {}}):
        return []  # not a string: settings_errors said so
    return [
        Error(
            f"{SETTING_NAME}['CACHE_ALIAS'] = {alias!r} is not in settings.CACHES.",
            hint="Name one of the caches in settings.CACHES (the throttle counters live there).",
            id=_id("E012"),
        )
    ]


def backend_problem(backend: object) -> ConfigurationError | None:
    """Why ``TWOFACTOR_NOTIFY['BACKEND'] = backend`` names no SMS backend class, or ``None``
    (a value that is not a non-empty string is :func:`settings_errors`' to report)."""
    from .backends import BaseSMSBackend

    if not isinstance(backend, str) or not backend.strip():
        return None
    path = BACKEND_ALIASES.get(backend.strip().lower(), backend.strip())
    try:
        cls = import_string(path)
        ok = isinstance(cls, type) and issubclass(cls, BaseSMSBackend)
    except ImportError:
        ok = False
    if ok:
        return None
    return ConfigurationError(
        f"{SETTING_NAME}['BACKEND'] = {backend!r} is not an SMS backend",
        key=f"{SETTING_NAME}['BACKEND']",
    )


def _check_backend(backend: object) -> list[CheckMessage]:
    return [] if backend_problem(backend) is None else [_bad_backend(backend)]


def _webhooks_routed() -> bool:
    try:
        reverse("django_twofactor:delivery")
    except NoReverseMatch:
        return False
    except Exception:  # a broken URLconf is reported by Django's own checks
        return False
    return True


def _check_webhook(token: str | None) -> list[CheckMessage]:
    if not token:
        if not _webhooks_routed():
            return []
        return [
            Error(
                f"{SETTING_NAME}['WEBHOOK_TOKEN'] is not set but the delivery webhook is routed; "
                "every report would be refused (403).",
                hint="Set a long random token (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'); send it in the X-TwoFactor-Token header, "
                "or set WEBHOOK_QUERY_TOKEN and register "
                "https://<host>/<prefix>/delivery/?token=<token> with 2Factor.",
                id=_id("E004"),
            )
        ]
    if not (str(token).isascii() and str(token).isprintable()) or " " in str(token):
        return [
            Warning(
                f"{SETTING_NAME}['WEBHOOK_TOKEN'] has a character outside printable ASCII, "
                "or a space: HTTP clients send header values as bytes, so the "
                "X-TwoFactor-Token header will not match it.",
                hint="Use secrets.token_urlsafe(32).",
                id=_id("W003"),
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


def _login_views_routed() -> bool:
    """True when the URLconf serves the phone login views (``django_twofactor.urls``)."""
    try:
        reverse("django_twofactor:login")
    except NoReverseMatch:
        return False
    except Exception:  # a broken URLconf is reported by Django's own checks
        return False
    return True


def _check_phone_field(phone_field: object) -> list[CheckMessage]:
    """``PHONE_FIELD`` must name a field when something reads it: the auth backend, or the
    phone login views (which look users up by it)."""
    backend_on = _AUTH_BACKEND in getattr(settings, "AUTHENTICATION_BACKENDS", ())
    if not backend_on and not _login_views_routed():
        return []
    if not isinstance(phone_field, str) or not phone_field:
        return []  # settings_errors said so
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    problem = _lookup_problem(user_model, phone_field)
    if problem is None:
        return []
    return [
        Error(
            f"{SETTING_NAME}['PHONE_FIELD'] = {phone_field!r} is not a field of "
            f"{user_model._meta.label}: {problem}.",
            hint="Name the user model field (or a lookup through relations such as "
            "'profile__phone') that holds the phone number in E.164 form.",
            id=_id("E007"),
        )
    ]


def _lookup_problem(model: Any, lookup: str) -> str | None:
    """Why ``lookup`` (``"profile__phone"``) names no field from ``model``, or ``None``."""
    from django.core.exceptions import FieldDoesNotExist

    parts = lookup.split("__")
    for position, part in enumerate(parts):
        try:
            found = model._meta.get_field(part)
        except FieldDoesNotExist:
            return f"{model._meta.label} has no field {part!r}"
        if position < len(parts) - 1:
            related = getattr(found, "related_model", None)
            if related is None:
                return f"{model._meta.label}.{part} is not a relation"
            model = related
        elif getattr(found, "related_model", None) is not None and not found.concrete:
            return f"{model._meta.label}.{part} is a reverse relation, not a field"
    return None
