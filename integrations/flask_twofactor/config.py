"""Reading and checking the ``TWOFACTOR_*`` configuration keys of a Flask app.

Everything is checked once, in :func:`load_config` (called by ``init_app``), so that a typo
fails at start-up with a :class:`~twofactor_notify.errors.ConfigurationError` naming the
key, instead of at the first send. Values may be Python objects or the strings that
``app.config.from_prefixed_env()`` / environment variables produce (``"30"``, ``"false"``).

The error messages name the key and what was expected, never the value: a value may be a
secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from twofactor_notify.errors import ConfigurationError, InvalidInputError
from twofactor_notify.validation import validate_sender, validate_template

__all__ = [
    "BACKENDS",
    "DEFAULT_URL_PREFIX",
    "PREFIX",
    "Backend",
    "TwoFactorConfig",
    "load_config",
]

#: Every configuration key of the extension starts with this.
PREFIX = "TWOFACTOR_"
#: Where the webhook blueprint is mounted unless ``TWOFACTOR_URL_PREFIX`` says otherwise.
DEFAULT_URL_PREFIX = "/twofactor"

Backend = Literal["2factor", "console", "memory", "null"]
#: The values ``TWOFACTOR_BACKEND`` accepts.
BACKENDS: tuple[Backend, ...] = ("2factor", "console", "memory", "null")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_REGION = re.compile(r"[A-Z]{2}")
_PREFIX_PATH = re.compile(r"(/[A-Za-z0-9_\-.~]+)+")
_TOKEN_MIN = 16
_TOKEN_MAX = 256


@dataclass(frozen=True, slots=True)
class TwoFactorConfig:
    """The checked configuration of one app (secrets hidden from ``repr``)."""

    backend: Backend
    suppress: bool
    api_key: str | None
    secret_key: str | None
    sender_id: str | None
    otp_template: str | None
    plugins: tuple[object, ...]
    load_entrypoints: bool | None
    webhook_token: str | None
    webhooks: bool
    webhook_query_token: bool
    url_prefix: str
    timeout: float | tuple[float, float]
    base_url: str
    region: str
    rate_limit: float | None
    encryption_mode: Literal["GCM", "CBC"]
    console_show_otp: bool

    def __repr__(self) -> str:
        return (
            f"TwoFactorConfig(backend={self.backend!r}, suppress={self.suppress!r}, "
            f"sender_id={self.sender_id!r}, base_url={self.base_url!r}, "
            f"region={self.region!r}, url_prefix={self.url_prefix!r}, "
            f"api_key={'<redacted>' if self.api_key else None!r})"
        )


def _bad(key: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{PREFIX}{key} must be {expected}")


def _bool(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(PREFIX + key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _bad(key, "a boolean (True/False, or 'true'/'false' in the environment)")


def _optional_text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(PREFIX + key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(key, "a string")
    return value


def _number(value: object, key: str) -> float:
    if isinstance(value, bool):
        raise _bad(key, "a positive number of seconds")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _bad(key, "a positive number") from None
    if not number > 0 or number == float("inf"):
        raise _bad(key, "a positive number")
    return number


def _timeout(config: Mapping[str, Any]) -> float | tuple[float, float]:
    value = config.get(PREFIX + "TIMEOUT", 10.0)
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise _bad("TIMEOUT", "a number of seconds or a (connect, read) pair")
        return (_number(value[0], "TIMEOUT"), _number(value[1], "TIMEOUT"))
    return _number(value, "TIMEOUT")


def _backend(config: Mapping[str, Any]) -> Backend:
    value = config.get(PREFIX + "BACKEND", "2factor")
    text = value.strip().lower() if isinstance(value, str) else value
    for backend in BACKENDS:
        if text == backend:
            return backend
    raise _bad("BACKEND", "one of " + ", ".join(repr(b) for b in BACKENDS))


def _plugins(config: Mapping[str, Any]) -> tuple[object, ...]:
    value = config.get(PREFIX + "PLUGINS", ())
    if value is None:
        return ()
    items: Iterable[object]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise _bad("PLUGINS", "a list of plugin objects or dotted paths")
    return tuple(items)


def _load_entrypoints(config: Mapping[str, Any]) -> bool | None:
    if config.get(PREFIX + "LOAD_ENTRYPOINTS") is None:
        return None
    return _bool(config, "LOAD_ENTRYPOINTS", False)


def _webhook_token(config: Mapping[str, Any]) -> str | None:
    token = _optional_text(config, "WEBHOOK_TOKEN")
    if token is None:
        return None
    if not _TOKEN_MIN <= len(token) <= _TOKEN_MAX or not token.isprintable() or " " in token:
        raise _bad(
            "WEBHOOK_TOKEN",
            f"{_TOKEN_MIN} to {_TOKEN_MAX} printable characters without spaces "
            "(use secrets.token_urlsafe())",
        )
    return token


def _url_prefix(config: Mapping[str, Any]) -> str:
    value = config.get(PREFIX + "URL_PREFIX", DEFAULT_URL_PREFIX)
    if not isinstance(value, str):
        raise _bad("URL_PREFIX", "a path such as '/twofactor'")
    prefix = value.rstrip("/")
    if prefix and not _PREFIX_PATH.fullmatch(prefix):
        raise _bad("URL_PREFIX", "a path such as '/twofactor' (starting with '/')")
    return prefix


def _base_url(config: Mapping[str, Any]) -> str:
    value = config.get(PREFIX + "BASE_URL") or "https://2factor.in"
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise _bad("BASE_URL", "an http:// or https:// URL")
    return value.rstrip("/")


def _region(config: Mapping[str, Any]) -> str:
    value = config.get(PREFIX + "REGION", "IN")
    if not isinstance(value, str) or not _REGION.fullmatch(value.strip().upper()):
        raise _bad("REGION", "a two-letter region code such as 'IN'")
    return value.strip().upper()


def _rate_limit(config: Mapping[str, Any]) -> float | None:
    value = config.get(PREFIX + "RATE_LIMIT")
    if value is None or value == "":
        return None
    return _number(value, "RATE_LIMIT")


def _encryption_mode(config: Mapping[str, Any]) -> Literal["GCM", "CBC"]:
    value = config.get(PREFIX + "ENCRYPTION_MODE", "GCM")
    text = value.strip().upper() if isinstance(value, str) else value
    if text == "GCM":
        return "GCM"
    if text == "CBC":
        return "CBC"
    raise _bad("ENCRYPTION_MODE", "'GCM' or 'CBC'")


def _checked(key: str, check: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(check(value))
    except InvalidInputError as exc:
        raise ConfigurationError(f"{PREFIX}{key} is malformed: {exc.message}") from None


def load_config(config: Mapping[str, Any], *, testing: bool = False) -> TwoFactorConfig:
    """Read and check every ``TWOFACTOR_*`` key of ``config`` (an app's ``app.config``).

    :param testing: the app's ``testing`` flag: the default of ``TWOFACTOR_SUPPRESS``.
    :raises ConfigurationError: naming the first key that is missing or malformed.
    """
    backend = _backend(config)
    suppress = _bool(config, "SUPPRESS", testing)
    api_key = _optional_text(config, "API_KEY")
    if backend == "2factor" and not suppress and api_key is None:
        raise ConfigurationError(
            f"{PREFIX}API_KEY is required with {PREFIX}BACKEND = '2factor' "
            f"(or use 'console' / 'memory' in development)"
        )
    return TwoFactorConfig(
        backend=backend,
        suppress=suppress,
        api_key=api_key,
        secret_key=_optional_text(config, "SECRET_KEY"),
        sender_id=_checked("SENDER_ID", validate_sender, _optional_text(config, "SENDER_ID")),
        otp_template=_checked(
            "OTP_TEMPLATE", validate_template, _optional_text(config, "OTP_TEMPLATE")
        ),
        plugins=_plugins(config),
        load_entrypoints=_load_entrypoints(config),
        webhook_token=_webhook_token(config),
        webhooks=_bool(config, "WEBHOOKS", True),
        webhook_query_token=_bool(config, "WEBHOOK_QUERY_TOKEN", False),
        url_prefix=_url_prefix(config),
        timeout=_timeout(config),
        base_url=_base_url(config),
        region=_region(config),
        rate_limit=_rate_limit(config),
        encryption_mode=_encryption_mode(config),
        console_show_otp=_bool(config, "CONSOLE_SHOW_OTP", False),
    )
