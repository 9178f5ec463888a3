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
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import django.conf
import pluggy
from django.apps import apps
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import InMemoryTransport, Transport

__all__ = [
    "MODE_LOCAL",
    "MODE_REMOTE",
    "OTPTwoFactorSettings",
    "get_transport",
    "no_delivery_transport",
    "reset_transports",
    "settings",
    "shared_plugin_manager",
]

logger = logging.getLogger("otp_twofactor")

_T = TypeVar("_T", bound=Transport)

#: The device generates the token, stores its keyed hash and sends it as a custom OTP.
MODE_LOCAL = "local"
#: 2Factor generates (AUTOGEN) and verifies (VERIFY) the token; only a session id is stored.
MODE_REMOTE = "remote"

_DEFAULTS: dict[str, Any] = {
    "OTP_TWOFACTOR_MODE": MODE_LOCAL,
    "OTP_TWOFACTOR_TEMPLATE": None,
    "OTP_TWOFACTOR_TOKEN_VALIDITY": 300,
    "OTP_TWOFACTOR_THROTTLE_FACTOR": 1,
    "OTP_TWOFACTOR_COOLDOWN_DURATION": 60,
    "OTP_TWOFACTOR_NO_DELIVERY": False,
    "OTP_TWOFACTOR_CHALLENGE_MESSAGE": "sent by SMS to {number}",
    "OTP_TWOFACTOR_TRANSPORT": None,
    "OTP_TWOFACTOR_API_KEY": None,
    "OTP_TWOFACTOR_BASE_URL": "https://2factor.in",
    "OTP_TWOFACTOR_REGION": "IN",
}


class OTPTwoFactorSettings:
    """Typed access to the ``OTP_TWOFACTOR_*`` settings, with their defaults."""

    defaults: dict[str, Any] = _DEFAULTS

    def _get(self, name: str) -> Any:
        return getattr(django.conf.settings, name, self.defaults[name])

    @property
    def OTP_TWOFACTOR_MODE(self) -> str:
        """``"local"`` (default) or ``"remote"``; see the module docs."""
        mode = str(self._get("OTP_TWOFACTOR_MODE")).lower()
        if mode not in (MODE_LOCAL, MODE_REMOTE):
            raise ConfigurationError(
                f"OTP_TWOFACTOR_MODE must be {MODE_LOCAL!r} or {MODE_REMOTE!r}, not {mode!r}"
            )
        return mode

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
        value = self._get("OTP_TWOFACTOR_API_KEY")
        return str(value) if value else None

    @property
    def OTP_TWOFACTOR_BASE_URL(self) -> str:
        """2Factor's base URL (point it at the emulator in development)."""
        return str(self._get("OTP_TWOFACTOR_BASE_URL"))

    @property
    def OTP_TWOFACTOR_REGION(self) -> str:
        """Region assumed for numbers typed without a country code (default ``"IN"``)."""
        return str(self._get("OTP_TWOFACTOR_REGION"))


settings = OTPTwoFactorSettings()

_lock = threading.Lock()
_own_transport: tuple[tuple[str, str], Transport] | None = None
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
    api_key = settings.OTP_TWOFACTOR_API_KEY
    if api_key:
        return _own(api_key, settings.OTP_TWOFACTOR_BASE_URL)
    shared = _django_twofactor_transport()
    if shared is not None:
        return shared
    raise ConfigurationError(
        "otp_twofactor has no transport: set OTP_TWOFACTOR_API_KEY (or OTP_TWOFACTOR_TRANSPORT), "
        "install and configure the django_twofactor app, or set OTP_TWOFACTOR_NO_DELIVERY"
    )


def reset_transports() -> None:
    """Close and forget the transports built by this module.

    Called when a setting they depend on changes: ``OTP_TWOFACTOR_NO_DELIVERY``,
    ``_TRANSPORT``, ``_API_KEY``, ``_BASE_URL`` or ``_REGION``.
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
                f"OTP_TWOFACTOR_TRANSPORT: cannot import {configured!r} ({exc})"
            ) from None
    if not isinstance(target, Transport) and callable(target):
        target = target()
    if not isinstance(target, Transport):
        raise ConfigurationError(
            "OTP_TWOFACTOR_TRANSPORT must be a Transport or a callable returning one, got "
            f"{type(target).__name__}"
        )
    return target


def _own(api_key: str, base_url: str) -> Transport:
    global _own_transport
    from twofactor_notify.client import TwoFactorClient
    from twofactor_notify.transport import TwoFactorTransport

    shared = shared_plugin_manager()
    with _lock:
        if _own_transport is not None and _own_transport[0] == (api_key, base_url):
            return _with_plugins(_own_transport[1], shared)
        old = _own_transport
        client = TwoFactorClient(api_key, base_url=base_url, region=settings.OTP_TWOFACTOR_REGION)
        transport = TwoFactorTransport(client, plugin_manager=shared)
        _own_transport = ((api_key, base_url), transport)
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
    except ConfigurationError:
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
    {
        "OTP_TWOFACTOR_NO_DELIVERY",
        "OTP_TWOFACTOR_TRANSPORT",
        "OTP_TWOFACTOR_API_KEY",
        "OTP_TWOFACTOR_BASE_URL",
        "OTP_TWOFACTOR_REGION",
    }
)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _TRANSPORT_SETTINGS:
        reset_transports()
