"""The ``TWOFACTOR_NOTIFY`` setting: one dict, read once, defaults filled in.

:func:`get_settings` parses ``settings.TWOFACTOR_NOTIFY`` into a frozen
:class:`TwoFactorSettings` and caches it. The cache (and the shared transport built from it)
is dropped when Django's ``setting_changed`` signal names ``TWOFACTOR_NOTIFY``, so
``override_settings`` and pytest-django's ``settings`` fixture work in tests.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

from twofactor_notify.config import (
    OPTIONS,
    TransportOptions,
    check_all_options,
    parse_bool,
    parse_whole_number,
    strip_traceback,
)
from twofactor_notify.credentials import Secret
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.redaction import register_secret

__all__ = [
    "APP_KEYS",
    "BACKEND_ALIASES",
    "CORE_BACKENDS",
    "DEFAULTS",
    "SETTING_NAME",
    "TRANSPORT_KEYS",
    "TwoFactorSettings",
    "clear_test_switch",
    "get_settings",
    "key_name",
    "on_reset",
    "option_key_name",
    "reset_settings",
    "set_test_switch",
    "settings_errors",
    "switched_to_locmem",
]

#: Name of the one Django setting this app reads.
SETTING_NAME = "TWOFACTOR_NOTIFY"

#: Short backend names and the classes they stand for. A dotted path works as well. The
#: core's names (``memory``, ``null``) are accepted beside Django's (``locmem``, ``dummy``).
BACKEND_ALIASES: dict[str, str] = {
    "2factor": "django_twofactor.backends.twofactor.SMSBackend",
    "twofactor": "django_twofactor.backends.twofactor.SMSBackend",
    "console": "django_twofactor.backends.console.SMSBackend",
    "locmem": "django_twofactor.backends.locmem.SMSBackend",
    "memory": "django_twofactor.backends.locmem.SMSBackend",
    "file": "django_twofactor.backends.filebased.SMSBackend",
    "dummy": "django_twofactor.backends.dummy.SMSBackend",
    "null": "django_twofactor.backends.dummy.SMSBackend",
}

#: The core backend (:data:`twofactor_notify.config.BACKENDS`) each built-in class builds.
CORE_BACKENDS: dict[str, str] = {
    "django_twofactor.backends.twofactor.SMSBackend": "2factor",
    "django_twofactor.backends.console.SMSBackend": "console",
    "django_twofactor.backends.locmem.SMSBackend": "memory",
    "django_twofactor.backends.filebased.SMSBackend": "file",
    "django_twofactor.backends.dummy.SMSBackend": "null",
}

#: Every transport option of the core builder (:data:`twofactor_notify.config.OPTIONS`) and
#: the ``TWOFACTOR_NOTIFY`` key it is read from. ``BACKEND`` is read apart: here it may also
#: name a backend class.
TRANSPORT_KEYS: dict[str, str] = {name: name.upper() for name in OPTIONS}


def key_name(key: str) -> str:
    """How an error names a key: ``TWOFACTOR_NOTIFY['TIMEOUT']``."""
    return f"{SETTING_NAME}['{key}']"


def option_key_name(option: str) -> str:
    """How an error names the key a core option is read from."""
    return key_name(TRANSPORT_KEYS[option])


def _webhook_token(value: object, key: str) -> Secret | None:
    # Not a string counts as unset, so the webhooks refuse every request (403) rather than
    # fail; the system checks report it (E011).
    if isinstance(value, Secret):
        return value if isinstance(value.reveal(), str) and value.reveal() else None
    return Secret(value) if isinstance(value, str) and value else None


def _optional_days(value: object, key: str) -> int | None:
    return None if value is None else parse_whole_number(value, key)


def _name(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{key} must be a non-empty string", key=key)
    return value


#: The keys only this app reads (not transport options) and how each is checked.
APP_KEYS: dict[str, Callable[[object, str], object]] = {
    "WEBHOOK_TOKEN": _webhook_token,
    "WEBHOOK_QUERY_TOKEN": parse_bool,
    "LOG_MESSAGES": parse_bool,
    "STORE_MESSAGE_TEXT": parse_bool,
    "LOG_RETENTION_DAYS": _optional_days,
    "PHONE_FIELD": _name,
    "CREATE_USERS": parse_bool,
    "LOGIN_MAX_ATTEMPTS": parse_whole_number,
    "LOGIN_LOCKOUT_SECONDS": parse_whole_number,
    "SEND_LIMIT": parse_whole_number,
    "SEND_WINDOW_SECONDS": parse_whole_number,
    "CACHE_ALIAS": _name,
    "LOCMEM_IN_TESTS": parse_bool,
}

#: Every key of ``TWOFACTOR_NOTIFY`` and its default (see docs/django-settings.md).
DEFAULTS: dict[str, Any] = {
    **{key: OPTIONS[option].default for option, key in TRANSPORT_KEYS.items()},
    "WEBHOOK_TOKEN": None,
    "WEBHOOK_QUERY_TOKEN": False,
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
    "BACKGROUND": None,
    "LOCMEM_IN_TESTS": True,
}


@dataclass(frozen=True)
class TwoFactorSettings:
    """The parsed ``TWOFACTOR_NOTIFY`` setting.

    ``unknown_keys`` lists keys the dict holds that this app does not know (a typo, most
    likely); the system checks warn about them. ``transport`` holds the checked options of
    the core builder (:func:`twofactor_notify.config.build_transport`).

    ``api_key``, ``secret_key`` and ``webhook_token`` are held in
    :class:`~twofactor_notify.credentials.Secret` objects (a plain string given here is
    wrapped in one): ``repr``, ``vars()``, a pickle or an error report show none of them;
    ``.reveal()`` gives the value.
    """

    backend: str
    api_key: Secret | None = field(repr=False)
    secret_key: Secret | None = field(repr=False)
    base_url: str
    sender_id: str | None
    otp_template: str | None
    otp_length: int
    timeout: float | tuple[float, float]
    region: str
    rate_limit: float | None
    plugins: tuple[object, ...]
    load_entrypoints: bool | None
    webhook_token: Secret | None = field(repr=False)
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
    locmem_in_tests: bool = True
    encryption_mode: str = "GCM"
    unknown_keys: tuple[str, ...] = ()
    transport: TransportOptions = field(default_factory=TransportOptions, repr=False)

    def __post_init__(self) -> None:
        for name in ("api_key", "secret_key", "webhook_token"):
            object.__setattr__(self, name, Secret.wrap(getattr(self, name)))

    @property
    def backend_path(self) -> str:
        """The dotted path of the backend class (aliases resolved)."""
        return BACKEND_ALIASES.get(self.backend.lower(), self.backend)

    @classmethod
    def from_mapping(cls, raw: Mapping[Any, Any] | None) -> TwoFactorSettings:
        """Build from the raw setting; missing keys take :data:`DEFAULTS`.

        Every value is checked with the core's rules (the ones a send applies), so a value
        that would break every send fails here, once.

        :raises ConfigurationError: for the first malformed key; ``key`` names it.
        """
        values, errors, unknown = _parse(raw)
        if errors:
            error = errors[0]
            del raw, values, errors  # no setting (an API key) in the frame it leaves
            raise error
        transport: TransportOptions = values.pop("transport")
        return cls(
            **values,
            api_key=transport.api_key,
            secret_key=transport.secret_key,
            base_url=transport.base_url,
            sender_id=transport.sender_id,
            otp_template=transport.otp_template,
            otp_length=transport.otp_length,
            timeout=transport.timeout,
            region=transport.region,
            rate_limit=transport.rate_limit,
            plugins=transport.plugins,
            load_entrypoints=transport.load_entrypoints,
            file_path=str(transport.file_path) if transport.file_path else None,
            show_otp=transport.show_otp,
            encryption_mode=transport.encryption_mode,
            unknown_keys=unknown,
            transport=transport,
        )


def settings_errors(raw: Mapping[Any, Any] | None) -> list[ConfigurationError]:
    """Every problem of the raw setting, one error per key (empty when it is valid)."""
    return _parse(raw)[1]


def _parse(
    raw: Mapping[Any, Any] | None,
) -> tuple[dict[str, Any], list[ConfigurationError], tuple[str, ...]]:
    data = dict(DEFAULTS)
    data.update(raw or {})
    unknown = tuple(
        sorted(k if isinstance(k, str) else repr(k) for k in (raw or {}) if k not in DEFAULTS)
    )
    errors: list[ConfigurationError] = []
    backend = data["BACKEND"]
    if not isinstance(backend, str) or not backend.strip():
        errors.append(
            ConfigurationError(
                f"{key_name('BACKEND')} must be a backend name or a dotted path",
                key=key_name("BACKEND"),
            )
        )
        backend = "dummy"
    path = BACKEND_ALIASES.get(backend.strip().lower(), backend.strip())
    options = {option: data[key] for option, key in TRANSPORT_KEYS.items()}
    # a backend class of the project's own: the core rules for its values, none of the
    # cross-checks of a built-in backend (it may not need an API key)
    options["backend"] = CORE_BACKENDS.get(path, "null")
    transport, core_errors = check_all_options(options, key_name=option_key_name)
    errors += core_errors
    values: dict[str, Any] = {"backend": backend.strip(), "transport": transport}
    for key, parse in APP_KEYS.items():
        try:
            values[key.lower()] = parse(data[key], key_name(key))
        except ConfigurationError as exc:
            errors.append(strip_traceback(exc))
    return values, errors, unknown


_lock = threading.Lock()
_cached: TwoFactorSettings | None = None
_reset_callbacks: list[Callable[[], None]] = []

_OFF = object()
#: The setting object (``settings.TWOFACTOR_NOTIFY``, or ``None`` when unset) the test
#: switch applies to; :data:`_OFF` when no switch is in force.
_switched_for: object = _OFF


def set_test_switch(raw: object) -> object:
    """Send through the locmem backend while ``settings.TWOFACTOR_NOTIFY`` is ``raw``.

    The switch replaces only which backend sends: :func:`get_settings` still parses and
    checks the configured setting (so a broken production setting fails a test as it fails
    production) and the system checks never see the switch. A test that overrides the
    setting (``override_settings``) gets its own value, unswitched. Returns the switch in
    force before: give it back to restore that one. Used by :mod:`django_twofactor.test`.
    """
    global _switched_for
    with _lock:
        previous, _switched_for = _switched_for, raw
    reset_settings()
    return previous


def clear_test_switch() -> object:
    """Turn the test switch off; returns the switch in force before (see
    :func:`set_test_switch`)."""
    return set_test_switch(_OFF)


def switched_to_locmem() -> bool:
    """True while a test switch to locmem is in force (whatever the setting in force)."""
    return _switched_for is not _OFF


def _switched(raw: object) -> bool:
    return _switched_for is not _OFF and raw is _switched_for


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
                raise ConfigurationError(
                    f"settings.{SETTING_NAME} must be a dict", key=SETTING_NAME
                )
            try:
                parsed = TwoFactorSettings.from_mapping(raw)
            except ConfigurationError as exc:
                del raw  # no setting (an API key) in the frame the error leaves
                raise strip_traceback(exc) from None
            if _switched(raw):
                # checked as configured above; only the backend that sends is replaced
                parsed = dataclasses.replace(parsed, backend="locmem")
            _cached = parsed
            _hide_in_logs(_cached.webhook_token)
        return _cached


_hidden_tokens: set[Secret] = set()


def _hide_in_logs(token: Secret | None) -> None:
    """Have the redaction filter hide the webhook token from every log line (an access log
    prints a query string, a 404 line a path), from the moment the settings are read: the
    app reads them at start (:meth:`~django_twofactor.apps.DjangoTwoFactorConfig.ready`),
    before any request."""
    if token is not None and token not in _hidden_tokens:
        register_secret(str(token.reveal()))
        _hidden_tokens.add(token)


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
