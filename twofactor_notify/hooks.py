"""Hook specifications (pluggy, project name ``twofactor_notify``).

A plugin is any object (or module) with functions named like the specs below and decorated
with :data:`hookimpl`::

    from twofactor_notify import hookimpl

    class AuditPlugin:
        @hookimpl
        def after_send(self, message, receipt, error, transport):
            audit.record(message.recipients, receipt, error)

Plugins come from the transport's ``plugins=`` argument (objects or dotted paths), from
framework settings, and from the ``twofactor_notify`` entry-point group (turned off with
``load_entrypoints=False`` or the ``TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD`` environment
variable).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .models import ClickReport, DeliveryReport, Message, Receipt
    from .transport import Transport

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "HookSpecs",
    "hookimpl",
    "hookspec",
    "load_plugin",
    "make_plugin_manager",
]

#: pluggy project name, and the name of the entry-point group plugins register under.
PROJECT_NAME = "twofactor_notify"
ENTRY_POINT_GROUP = "twofactor_notify"
_DISABLE_ENV = "TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's hook functions with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class HookSpecs:
    """The hooks a plugin can implement. All arguments are passed by keyword."""

    @hookspec(firstresult=False)
    def before_send(self, message: Message, transport: Transport) -> Message | None:
        """Called before every send, in plugin order (last registered runs first).

        ``message`` is the message as changed by the plugins that ran before. Return a
        replacement message (``dataclasses.replace(message, …)``) to change it, ``None`` to
        leave it, or raise :class:`~twofactor_notify.errors.SendRefusedError` to refuse the
        send (nothing is sent; ``after_send`` still runs with the error).
        """

    @hookspec
    def after_send(
        self,
        message: Message,
        receipt: Receipt | None,
        error: BaseException | None,
        transport: Transport,
    ) -> None:
        """Called after every send attempt, whether it succeeded or not.

        Exactly one of ``receipt`` and ``error`` is set. An exception raised here is logged
        and swallowed: the send already happened and its receipt reaches the caller.
        """

    @hookspec
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Transport) -> None:
        """Called for each delivery report or click report a webhook received.

        Called after the report was stored by the adapter (Django), so an exception here
        does not lose the report; it is logged and swallowed.
        """


def load_plugin(spec: object) -> object:
    """Resolve a plugin given as an object, a dotted path to one, or a dotted path to a class.

    ``"myapp.plugins.Audit"`` imports ``myapp.plugins`` and takes ``Audit``; a class is
    instantiated with no arguments; a module path (``"myapp.plugins"``) registers the module.
    """
    if not isinstance(spec, str):
        return spec
    try:
        return importlib.import_module(spec)
    except ImportError:
        pass
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise ConfigurationError(f"plugin path {spec!r} is not a dotted path")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"plugin {spec!r} could not be imported: {exc}") from None
    return obj() if isinstance(obj, type) else obj


def make_plugin_manager(
    plugins: Iterable[object] = (), *, load_entrypoints: bool | None = None
) -> pluggy.PluginManager:
    """A plugin manager with the specs added and ``plugins`` registered, in order.

    :param load_entrypoints: load the ``twofactor_notify`` entry-point group. ``None``
        (default) loads it unless ``TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(HookSpecs)
    if load_entrypoints is None:
        load_entrypoints = not os.environ.get(_DISABLE_ENV)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for spec in plugins:
        plugin = load_plugin(spec)
        if pm.is_registered(plugin):
            continue
        pm.register(plugin)
    pm.check_pending()
    return pm


def _call_safely(hook: Any, logger: Any, **kwargs: Any) -> None:
    """Call a hook whose exceptions must not propagate; log them (type only, no values)."""
    try:
        hook(**kwargs)
    except Exception as exc:
        logger.error("a twofactor_notify plugin raised %s in %s", type(exc).__name__, hook.name)
