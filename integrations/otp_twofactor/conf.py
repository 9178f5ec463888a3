"""Settings of the ``otp_twofactor`` plugin (``OTP_TWOFACTOR_*``) and its transport factory.

Every setting is read from :mod:`django.conf.settings` on each access, with the defaults
below, so ``override_settings`` works in tests. :func:`get_transport` picks the transport
the devices send through, in this order:

1. ``OTP_TWOFACTOR_NO_DELIVERY = True``: a process-wide
   :class:`~twofactor_notify.transport.InMemoryTransport` (nothing leaves the process;
   :func:`no_delivery_transport` returns it, so tests can read its ``outbox``);
2. ``OTP_TWOFACTOR_TRANSPORT``: a :class:`~twofactor_notify.transport.Transport`, or a callable
   (or its dotted path) returning one; it is called on every send, so it should return a
   shared instance;
3. ``OTP_TWOFACTOR_API_KEY``: a :class:`~twofactor_notify.transport.TwoFactorTransport` built
   once per process from the key and ``OTP_TWOFACTOR_BASE_URL``;
4. the ``django_twofactor`` app's transport, when that app is installed (the transport of
   its ``TWOFACTOR_NOTIFY`` SMS backend), so one transport, one set of plugins and one
   message log serve both.

The transports of 1 and 3 run the plugins of that app's transport too
(:func:`shared_plugin_manager`); one named by ``OTP_TWOFACTOR_TRANSPORT`` runs its own, and
the system check ``otp_twofactor.W001`` says so.

Every setting is checked by the core's rules (:mod:`twofactor_notify.config`, the checks a
send makes): reading a malformed one raises a
:class:`~twofactor_notify.errors.ConfigurationError` naming it, and the system check
``otp_twofactor.E001`` reports each at start-up (``manage.py check``, ``runserver``,
``migrate``); ``otp_twofactor.W003`` names ``OTP_TWOFACTOR_*`` settings this plugin does not
know (typos). The transport of 3 is made by the core builder
(:func:`twofactor_notify.config.build_transport`) from the settings in :data:`TRANSPORT_KEYS`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import django.conf
import pluggy
from django.apps import apps
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from twofactor_notify.config import (
    OPTIONS,
    build_transport,
    parse_bool,
    parse_positive_number,
    parse_whole_number,
    strip_traceback,
)
from twofactor_notify.credentials import reveal
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.redaction import library_logger
from twofactor_notify.transport import InMemoryTransport, Transport

__all__ = [
    "MODE_LOCAL",
    "MODE_REMOTE",
    "NOT_MAPPED",
    "TRANSPORT_KEYS",
    "OTPTwoFactorSettings",
    "challenge_message",
    "check_settings",
    "get_transport",
    "no_delivery_transport",
    "reset_transports",
    "settings",
    "shared_plugin_manager",
]

logger = library_logger("otp_twofactor")

_T = TypeVar("_T", bound=Transport)

#: The device generates the token, stores its keyed hash and sends it as a custom OTP.
MODE_LOCAL = "local"
#: 2Factor generates (AUTOGEN) and verifies (VERIFY) the token; only a session id is stored.
MODE_REMOTE = "remote"

#: The core builder's options (:data:`twofactor_notify.config.OPTIONS`) the plugin's own
#: transport (3 above) is built from, and the setting each is read from.
TRANSPORT_KEYS: dict[str, str] = {
    "api_key": "OTP_TWOFACTOR_API_KEY",
    "secret_key": "OTP_TWOFACTOR_SECRET_KEY",
    "base_url": "OTP_TWOFACTOR_BASE_URL",
    "timeout": "OTP_TWOFACTOR_TIMEOUT",
    "region": "OTP_TWOFACTOR_REGION",
    "rate_limit": "OTP_TWOFACTOR_RATE_LIMIT",
    "encryption_mode": "OTP_TWOFACTOR_ENCRYPTION_MODE",
    "otp_template": "OTP_TWOFACTOR_TEMPLATE",
}

#: The core options this plugin has no setting for, and why.
NOT_MAPPED: dict[str, str] = {
    "backend": "the own transport is always '2factor'; OTP_TWOFACTOR_NO_DELIVERY keeps "
    "challenges in memory instead",
    "sender_id": "the device sends OTPs, which carry no sender id",
    "otp_length": "the device's token length is the device's (TOKEN_DIGITS), not a setting",
    "plugins": "the plugins are those of TWOFACTOR_NOTIFY's transport",
    "load_entrypoints": "the plugins are those of TWOFACTOR_NOTIFY's transport",
    "show_otp": "no console or file backend here",
    "file_path": "no file backend here",
}


def _key_name(option: str) -> str:
    return TRANSPORT_KEYS.get(option, f"OTP_TWOFACTOR_{option.upper()}")


def _option(option: str) -> Callable[[object, str], Any]:
    return OPTIONS[option].parse


def _seconds_or_zero(value: object, key: str) -> float:
    # 0 turns the feature off; otherwise a positive number, as the core reads one
    if value == 0 and not isinstance(value, bool):
        return 0.0
    try:
        return parse_positive_number(value, key)
    except ConfigurationError:
        raise ConfigurationError(
            f"{key} must be 0 (off) or a finite number greater than 0", key=key
        ) from None


def _mode(value: object, key: str) -> str:
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in (MODE_LOCAL, MODE_REMOTE):
        raise ConfigurationError(f"{key} must be {MODE_LOCAL!r} or {MODE_REMOTE!r}", key=key)
    return str(mode)


def challenge_message(template: str, number: str, key: str) -> str:
    """``template`` (the challenge message) with ``{number}`` filled in.

    :raises ConfigurationError: naming ``key`` when ``template`` has another placeholder
        (``{phone}``) or is not a valid format string (``"sent {"``).
    """
    try:
        return template.format(number=number)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        problem = f"unknown placeholder {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigurationError(
            f"{key} must be a text whose only placeholder is {{number}} ({problem}); "
            "write a literal brace as {{ or }}",
            key=key,
        ) from None


def _message(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{key} must be a string", key=key)
    challenge_message(value, "+91******3210", key)
    return value


def _anything(value: object, key: str) -> object:
    return value  # checked when it is resolved (a Transport, a callable or its path)


#: Every ``OTP_TWOFACTOR_*`` setting: its default and its check.
_SETTINGS: dict[str, tuple[Any, Callable[[object, str], Any]]] = {
    "OTP_TWOFACTOR_MODE": (MODE_LOCAL, _mode),
    "OTP_TWOFACTOR_TEMPLATE": (None, _option("otp_template")),
    "OTP_TWOFACTOR_TOKEN_VALIDITY": (300, parse_whole_number),
    "OTP_TWOFACTOR_THROTTLE_FACTOR": (1, _seconds_or_zero),
    "OTP_TWOFACTOR_COOLDOWN_DURATION": (60, _seconds_or_zero),
    "OTP_TWOFACTOR_NO_DELIVERY": (False, parse_bool),
    "OTP_TWOFACTOR_CHALLENGE_MESSAGE": ("sent by SMS to {number}", _message),
    "OTP_TWOFACTOR_TRANSPORT": (None, _anything),
    **{
        key: (OPTIONS[option].default, _option(option))
        for option, key in TRANSPORT_KEYS.items()
        if key != "OTP_TWOFACTOR_TEMPLATE"
    },
}

_DEFAULTS: dict[str, Any] = {key: default for key, (default, _) in _SETTINGS.items()}


class OTPTwoFactorSettings:
    """Typed access to the ``OTP_TWOFACTOR_*`` settings, with their defaults.

    Each read checks the value; a malformed one raises
    :class:`~twofactor_notify.errors.ConfigurationError` naming the setting.
    """

    defaults: dict[str, Any] = _DEFAULTS

    def _get(self, name: str) -> Any:
        value = getattr(django.conf.settings, name, self.defaults[name])
        try:
            return _SETTINGS[name][1](value, name)
        except ConfigurationError as exc:
            del value  # no setting (an API key) in the frame the error leaves
            raise strip_traceback(exc) from None

    @property
    def OTP_TWOFACTOR_MODE(self) -> str:
        """``"local"`` (default) or ``"remote"``; see the module docs."""
        return str(self._get("OTP_TWOFACTOR_MODE"))

    @property
    def OTP_TWOFACTOR_TEMPLATE(self) -> str | None:
        """The 2Factor OTP template name; ``None`` uses the transport's default."""
        value = self._get("OTP_TWOFACTOR_TEMPLATE")
        return str(value) if value else None

    @property
    def OTP_TWOFACTOR_TOKEN_VALIDITY(self) -> int:
        """Seconds a challenge can be answered (default 300)."""
        return int(self._get("OTP_TWOFACTOR_TOKEN_VALIDITY"))

    @property
    def OTP_TWOFACTOR_THROTTLE_FACTOR(self) -> float:
        """Lock-out after ``n`` failures is ``factor * 2**(n-1)`` seconds; 0 disables."""
        return float(self._get("OTP_TWOFACTOR_THROTTLE_FACTOR"))

    @property
    def OTP_TWOFACTOR_COOLDOWN_DURATION(self) -> float:
        """Seconds between two challenges of one device (default 60); 0 disables."""
        return float(self._get("OTP_TWOFACTOR_COOLDOWN_DURATION"))

    @property
    def OTP_TWOFACTOR_NO_DELIVERY(self) -> bool:
        """Keep challenges in process (:func:`no_delivery_transport`) instead of sending."""
        return bool(self._get("OTP_TWOFACTOR_NO_DELIVERY"))

    @property
    def OTP_TWOFACTOR_CHALLENGE_MESSAGE(self) -> str:
        """What ``generate_challenge`` returns; ``{number}`` is the masked phone number."""
        return str(self._get("OTP_TWOFACTOR_CHALLENGE_MESSAGE"))

    @property
    def OTP_TWOFACTOR_TRANSPORT(self) -> Any:
        """A transport, a callable returning one, its dotted path, or ``None``."""
        return self._get("OTP_TWOFACTOR_TRANSPORT")

    @property
    def OTP_TWOFACTOR_API_KEY(self) -> str | None:
        """A 2Factor API key for a transport of this plugin's own."""
        return reveal(self._get("OTP_TWOFACTOR_API_KEY"))

    @property
    def OTP_TWOFACTOR_BASE_URL(self) -> str:
        """2Factor's base URL (point it at the emulator in development)."""
        return str(self._get("OTP_TWOFACTOR_BASE_URL"))

    @property
    def OTP_TWOFACTOR_REGION(self) -> str:
        """Region assumed for numbers typed without a country code (default ``"IN"``)."""
        return str(self._get("OTP_TWOFACTOR_REGION"))

    def transport_options(self) -> dict[str, object]:
        """The core builder's options for the plugin's own transport, from the settings."""
        return {
            "backend": "2factor",
            "load_entrypoints": False,
            **{option: self._get(key) for option, key in TRANSPORT_KEYS.items()},
        }


def settings_errors() -> list[ConfigurationError]:
    """Every malformed ``OTP_TWOFACTOR_*`` setting, one error each (empty: all valid)."""
    errors: list[ConfigurationError] = []
    for name, (default, parse) in _SETTINGS.items():
        try:
            parse(getattr(django.conf.settings, name, default), name)
        except ConfigurationError as exc:
            errors.append(exc)
    return errors


def _transport_errors() -> list[ConfigurationError]:
    """``OTP_TWOFACTOR_TRANSPORT`` set to something that is not (and builds no) Transport."""
    configured = getattr(django.conf.settings, "OTP_TWOFACTOR_TRANSPORT", None)
    if configured is None:
        return []
    try:
        _from_setting(configured)
    except ConfigurationError as exc:
        return [exc]
    return []


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``otp_twofactor.E001`` for each malformed setting, ``W003`` for unknown ones."""
    messages: list[CheckMessage] = [
        Error(
            exc.message if exc.message.endswith(".") else exc.message + ".",
            hint="See the settings table in docs/django-otp.md.",
            obj=exc.key,
            id="otp_twofactor.E001",
        )
        for exc in settings_errors() + _transport_errors()
    ]
    unknown = sorted(
        name
        for name in dir(django.conf.settings)
        if name.startswith("OTP_TWOFACTOR_") and name not in _SETTINGS
    )
    if unknown:
        messages.append(
            CheckWarning(
                f"Unknown settings ignored: {', '.join(unknown)}.",
                hint=f"otp_twofactor reads: {', '.join(sorted(_SETTINGS))}.",
                id="otp_twofactor.W003",
            )
        )
    return messages


settings = OTPTwoFactorSettings()

_lock = threading.Lock()
#: The plugin's own transport and the options it was built from (keys held as Secrets).
_own_transport: tuple[dict[str, object], Transport] | None = None
_no_delivery: InMemoryTransport | None = None


def no_delivery_transport() -> InMemoryTransport:
    """The in-process transport used while ``OTP_TWOFACTOR_NO_DELIVERY`` is true.

    It runs the plugins of the ``django_twofactor`` app's transport when that app is
    installed (:func:`shared_plugin_manager`), so a plugin refuses here what it refuses in
    production.
    """
    global _no_delivery
    shared = shared_plugin_manager()
    with _lock:
        if _no_delivery is None:
            _no_delivery = InMemoryTransport(
                load_entrypoints=False, region=settings.OTP_TWOFACTOR_REGION, plugin_manager=shared
            )
        return _with_plugins(_no_delivery, shared)


def get_transport() -> Transport:
    """The transport devices send through now (see the module docs for the order).

    :raises ConfigurationError: when nothing is configured or a setting is malformed.
    """
    if settings.OTP_TWOFACTOR_NO_DELIVERY:
        return no_delivery_transport()
    configured = settings.OTP_TWOFACTOR_TRANSPORT
    if configured is not None:
        return _from_setting(configured)
    if settings.OTP_TWOFACTOR_API_KEY:
        return _own()
    shared = _django_twofactor_transport()
    if shared is not None:
        return shared
    raise ConfigurationError(
        "otp_twofactor has no transport: set OTP_TWOFACTOR_API_KEY (or OTP_TWOFACTOR_TRANSPORT), "
        "install and configure the django_twofactor app, or set OTP_TWOFACTOR_NO_DELIVERY",
        key="OTP_TWOFACTOR_TRANSPORT",
    )


def reset_transports() -> None:
    """Close and forget the transports built by this module.

    Called when a setting they depend on changes: ``OTP_TWOFACTOR_NO_DELIVERY``,
    ``_TRANSPORT`` or one of :data:`TRANSPORT_KEYS`.
    """
    global _own_transport, _no_delivery
    with _lock:
        own, _own_transport = _own_transport, None
        _no_delivery = None
    if own is not None:
        own[1].close()


def _from_setting(configured: object) -> Transport:
    target: object = configured
    if isinstance(target, str):
        try:
            target = import_string(target)
        except ImportError as exc:
            raise ConfigurationError(
                f"OTP_TWOFACTOR_TRANSPORT: cannot import {configured!r} ({exc})",
                key="OTP_TWOFACTOR_TRANSPORT",
            ) from None
    if not isinstance(target, Transport) and callable(target):
        target = target()
    if not isinstance(target, Transport):
        raise ConfigurationError(
            "OTP_TWOFACTOR_TRANSPORT must be a Transport or a callable returning one, got "
            f"{type(target).__name__}",
            key="OTP_TWOFACTOR_TRANSPORT",
        )
    return target


def _own() -> Transport:
    global _own_transport
    # compared by value (a Secret compares its key), kept without a key in plain text
    options = settings.transport_options()
    shared = shared_plugin_manager()
    with _lock:
        if _own_transport is not None and _own_transport[0] == options:
            return _with_plugins(_own_transport[1], shared)
        old = _own_transport
        transport = build_transport(options, key_name=_key_name, plugin_manager=shared)
        _own_transport = (options, transport)
    if old is not None:
        old[1].close()
    return transport


def shared_plugin_manager() -> pluggy.PluginManager | None:
    """The plugin manager of the ``django_twofactor`` app's transport, if there is one.

    The transports this module builds (``OTP_TWOFACTOR_API_KEY``'s and the no-delivery one)
    run the very plugins of ``TWOFACTOR_NOTIFY`` -- the same instances, in the same order, so
    a send guard counts the device's SMS with everyone else's and the message log records
    them. ``None`` when that app is not installed, or its transport cannot be built (its
    ``TWOFACTOR_NOTIFY`` is incomplete: the system check ``otp_twofactor.W001`` says so when
    it names plugins).
    """
    try:
        transport = _django_twofactor_transport()
    except (ConfigurationError, TypeError, ValueError):
        # TWOFACTOR_NOTIFY is incomplete or malformed: django_twofactor's checks name the
        # problem, and otp_twofactor.W001 says its plugins do not apply here
        return None
    return transport.plugin_manager if transport is not None else None


def _with_plugins(transport: _T, manager: pluggy.PluginManager | None) -> _T:
    """``transport``, running ``manager``'s plugins (its own, none, when ``None``)."""
    if manager is not None and transport.plugin_manager is not manager:
        # TWOFACTOR_NOTIFY changed (django_twofactor rebuilt its transport): follow it,
        # keeping this transport (and the codes pending in an in-process one)
        transport.plugin_manager = manager
    return transport


# Where the django_twofactor app exposes its process-wide transport: ``get_transport()``,
# else the ``transport`` of its SMS backend (``TWOFACTOR_NOTIFY['BACKEND']``).
_DJANGO_TWOFACTOR_FACTORIES = (
    ("django_twofactor", "get_transport"),
    ("django_twofactor.backends", "get_backend"),
)


def _django_twofactor_transport() -> Transport | None:
    """The django_twofactor app's transport, when that app is installed and exposes one."""
    if not apps.is_installed("django_twofactor"):
        return None
    for module_name, attribute in _DJANGO_TWOFACTOR_FACTORIES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        factory: Callable[[], object] | None = getattr(module, attribute, None)
        if factory is None:
            continue
        found = factory()
        transport = getattr(found, "transport", found)
        if isinstance(transport, Transport):
            return transport
    return None


#: The settings the transports built here depend on; changing another ``OTP_TWOFACTOR_*``
#: setting (a cooldown, a mode...) keeps them, and the codes pending in them.
_TRANSPORT_SETTINGS = frozenset(
    {"OTP_TWOFACTOR_NO_DELIVERY", "OTP_TWOFACTOR_TRANSPORT", *TRANSPORT_KEYS.values()}
)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _TRANSPORT_SETTINGS:
        reset_transports()
