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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from twofactor_notify.config import BACKENDS as _CORE_BACKENDS
from twofactor_notify.config import (
    OPTIONS,
    ConfigurationWarning,
    TransportOptions,
    check_all_options,
    parse_bool,
)
from twofactor_notify.config import Backend as Backend
from twofactor_notify.credentials import Secret
from twofactor_notify.errors import ConfigurationError

__all__ = [
    "APP_KEYS",
    "BACKENDS",
    "DEFAULT_URL_PREFIX",
    "PREFIX",
    "TRANSPORT_KEYS",
    "Backend",
    "TwoFactorConfig",
    "config_errors",
    "load_config",
]

#: Every configuration key of the extension starts with this.
PREFIX = "TWOFACTOR_"
#: Where the webhook blueprint is mounted unless ``TWOFACTOR_URL_PREFIX`` says otherwise.
DEFAULT_URL_PREFIX = "/twofactor"

#: The values ``TWOFACTOR_BACKEND`` accepts (the core builder's; its aliases work too).
BACKENDS: tuple[Backend, ...] = _CORE_BACKENDS

#: Every transport option of the core builder (:data:`twofactor_notify.config.OPTIONS`) and
#: the key it is read from, without the ``TWOFACTOR_`` prefix.
TRANSPORT_KEYS: dict[str, str] = {name: name.upper() for name in OPTIONS}

_PREFIX_PATH = re.compile(r"(/[A-Za-z0-9_\-.~]+)+")
_TOKEN_MIN = 16
_TOKEN_MAX = 256
#: an older spelling of ``TWOFACTOR_SHOW_OTP``, still read when that is unset
_LEGACY_SHOW_OTP = "CONSOLE_SHOW_OTP"


def _key(name: str) -> str:
    return PREFIX + name


def _option_key(option: str) -> str:
    return _key(TRANSPORT_KEYS[option])


def _bad(key: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{key} must be {expected}", key=key)


def _webhook_token(value: object, key: str) -> Secret | None:
    token = Secret.wrap(value)  # held from here on, never a bare local
    if token is None:
        return None
    if not isinstance(token.reveal(), str):
        raise _bad(key, "a string")
    if (
        not _TOKEN_MIN <= len(token.reveal()) <= _TOKEN_MAX
        or not token.reveal().isprintable()
        or not token.reveal().isascii()  # a header carries bytes: it would never match
        or " " in token.reveal()
    ):
        raise _bad(
            key,
            f"{_TOKEN_MIN} to {_TOKEN_MAX} printable ASCII characters without spaces "
            "(use secrets.token_urlsafe())",
        )
    return token


def _url_prefix(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise _bad(key, "a path such as '/twofactor'")
    prefix = value.rstrip("/")
    if prefix and not _PREFIX_PATH.fullmatch(prefix):
        raise _bad(key, "a path such as '/twofactor' (starting with '/')")
    return prefix


#: The keys only the extension reads (not transport options), their defaults and checks.
#: ``SUPPRESS`` defaults to the app's ``testing`` flag.
APP_KEYS: dict[str, tuple[object, Any]] = {
    "SUPPRESS": (None, parse_bool),
    "WEBHOOK_TOKEN": (None, _webhook_token),
    "WEBHOOKS": (True, parse_bool),
    "WEBHOOK_QUERY_TOKEN": (False, parse_bool),
    "URL_PREFIX": (DEFAULT_URL_PREFIX, _url_prefix),
    _LEGACY_SHOW_OTP: (False, parse_bool),
}


@dataclass(frozen=True, slots=True)
class TwoFactorConfig:
    """The checked configuration of one app.

    ``transport`` holds the checked options of the core builder
    (:func:`twofactor_notify.config.build_transport`); the other fields repeat them, or are
    the extension's own keys. ``api_key``, ``secret_key`` and ``webhook_token`` are held in
    :class:`~twofactor_notify.credentials.Secret` objects (a plain string given here is
    wrapped in one): ``repr``, a walk of the slots, a pickle or an error report show none of
    them; ``.reveal()`` gives the value.
    """

    backend: Backend
    suppress: bool
    api_key: Secret | None
    secret_key: Secret | None
    sender_id: str | None
    otp_template: str | None
    plugins: tuple[object, ...]
    load_entrypoints: bool | None
    webhook_token: Secret | None
    webhooks: bool
    webhook_query_token: bool
    url_prefix: str
    timeout: float | tuple[float, float]
    base_url: str
    region: str
    rate_limit: float | None
    encryption_mode: Literal["GCM", "CBC"]
    console_show_otp: bool
    otp_length: int = 6
    transport: TransportOptions = field(default_factory=TransportOptions)

    def __post_init__(self) -> None:
        for name in ("api_key", "secret_key", "webhook_token"):
            object.__setattr__(self, name, Secret.wrap(getattr(self, name)))

    def __repr__(self) -> str:
        return (
            f"TwoFactorConfig(backend={self.backend!r}, suppress={self.suppress!r}, "
            f"sender_id={self.sender_id!r}, base_url={self.base_url!r}, "
            f"region={self.region!r}, url_prefix={self.url_prefix!r}, "
            f"api_key={'<redacted>' if self.api_key else None!r})"
        )


def _transport_options(config: Mapping[str, Any]) -> dict[str, object]:
    options = {
        option: config[_key(name)]
        for option, name in TRANSPORT_KEYS.items()
        if _key(name) in config
    }
    if "show_otp" not in options and _key(_LEGACY_SHOW_OTP) in config:
        options["show_otp"] = config[_key(_LEGACY_SHOW_OTP)]
    return options


def _parse(
    config: Mapping[str, Any], testing: bool
) -> tuple[dict[str, Any], list[ConfigurationError]]:
    errors: list[ConfigurationError] = []
    values: dict[str, Any] = {}
    for name, (default, parse) in APP_KEYS.items():
        raw = config.get(_key(name), testing if name == "SUPPRESS" else default)
        try:
            values[name] = parse(raw, _key(name))
        except ConfigurationError as exc:
            errors.append(exc)
    options = _transport_options(config)
    backend_key = _option_key("backend")
    try:
        backend = cast(
            Backend,
            OPTIONS["backend"].parse(
                options.get("backend", OPTIONS["backend"].default), backend_key
            ),
        )
    except ConfigurationError as exc:
        errors.append(exc)
        return values, errors
    # Suppressed, nothing leaves the app: the 2Factor backend needs no API key then (as
    # documented); any other backend is checked as configured (FILE_PATH for "file"), so
    # testing fails where production fails.
    effective = "memory" if values.get("SUPPRESS") and backend == "2factor" else backend
    checked = {**options, "backend": effective}
    transport, core_errors = check_all_options(checked, key_name=_option_key)
    errors += core_errors
    if transport is not None and not errors:
        values["transport"] = replace(transport, backend=backend)
    return values, errors


def unknown_keys(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``TWOFACTOR_*`` keys of ``config`` the extension does not read (typos), sorted."""
    # BACKGROUND is read by flask_twofactor.background
    known = {_key(n) for n in (*TRANSPORT_KEYS.values(), *APP_KEYS, "BACKGROUND")}
    return tuple(
        sorted(k for k in config if isinstance(k, str) and k.startswith(PREFIX) and k not in known)
    )


def config_errors(config: Mapping[str, Any], *, testing: bool = False) -> list[ConfigurationError]:
    """Every problem of ``config``'s ``TWOFACTOR_*`` keys, one per key (none: valid)."""
    return _parse(config, testing)[1]


def load_config(config: Mapping[str, Any], *, testing: bool = False) -> TwoFactorConfig:
    """Read and check every ``TWOFACTOR_*`` key of ``config`` (an app's ``app.config``).

    The transport keys are the core builder's options
    (:data:`twofactor_notify.config.OPTIONS`, upper-cased after ``TWOFACTOR_``), checked by
    its rules, the ones a send applies; the extension adds ``SUPPRESS``, ``WEBHOOK_TOKEN``,
    ``WEBHOOKS`` and ``URL_PREFIX``.

    :param testing: the app's ``testing`` flag: the default of ``TWOFACTOR_SUPPRESS``.
    :raises ConfigurationError: naming the first key that is missing or malformed.
    :warns ConfigurationWarning: naming ``TWOFACTOR_*`` keys it does not know (typos).
    """
    unknown = unknown_keys(config)
    if unknown:
        warnings.warn(
            f"unknown configuration keys ignored: {', '.join(unknown)}",
            ConfigurationWarning,
            stacklevel=2,
        )
    values, errors = _parse(config, testing)
    if errors:
        raise errors[0]
    transport: TransportOptions = values["transport"]
    return TwoFactorConfig(
        backend=transport.backend,
        suppress=values["SUPPRESS"],
        api_key=transport.api_key,
        secret_key=transport.secret_key,
        sender_id=transport.sender_id,
        otp_template=transport.otp_template,
        plugins=transport.plugins,
        load_entrypoints=transport.load_entrypoints,
        webhook_token=values["WEBHOOK_TOKEN"],
        webhooks=values["WEBHOOKS"],
        webhook_query_token=values["WEBHOOK_QUERY_TOKEN"],
        url_prefix=values["URL_PREFIX"],
        timeout=transport.timeout,
        base_url=transport.base_url,
        region=transport.region,
        rate_limit=transport.rate_limit,
        encryption_mode=transport.encryption_mode,
        console_show_otp=transport.show_otp,
        otp_length=transport.otp_length,
        transport=transport,
    )
