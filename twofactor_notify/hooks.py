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
import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy
from pluggy import HookImpl

from .errors import ConfigurationError
from .redaction import redact

if TYPE_CHECKING:
    from .models import ClickReport, DeliveryReport, Message, Receipt
    from .transport import Transport

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "HookSpecs",
    "call_each",
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

        Exactly one of ``receipt`` and ``error`` is set. Each implementation is called on its
        own: an exception raised here is logged (plugin, hook and exception type only) and
        swallowed, and the other plugins still run: the send already happened and its
        receipt reaches the caller.
        """

    @hookspec
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Transport) -> None:
        """Called for each delivery report or click report a webhook received.

        Called after the report was stored by the adapter (Django), each implementation on
        its own: an exception here is logged (plugin, hook and exception type only) and
        swallowed, and never stops the other plugins nor loses the report.

        Delivery is *at least once*: a report whose hand-over was cut short (the process
        died, the database failed before the report was marked handed over) is announced
        again when 2Factor retries it. Deduplicate on ``report.dedupe_key`` (message id,
        recipient and status; for a click: campaign, number and time) if a second call
        would do harm.
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
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # an installed plugin that fails to import or register
            raise ConfigurationError(
                f"a plugin of the {ENTRY_POINT_GROUP!r} entry-point group could not be loaded: "
                f"{type(exc).__name__}: {redact(str(exc))[:200]} (fix or uninstall it; "
                f"{_DISABLE_ENV}=1 turns the group off)"
            ) from None
    for spec in plugins:
        plugin = load_plugin(spec)
        if pm.is_registered(plugin):
            continue
        pm.register(plugin)
    pm.check_pending()
    return pm


def call_each(hook: pluggy.HookCaller, logger: logging.Logger, **kwargs: Any) -> int:
    """Call every implementation of ``hook`` on its own; returns how many raised.

    pluggy's own call stops at the first implementation that raises, so one broken plugin
    would starve every plugin after it. Here each implementation runs in pluggy's order
    (last registered first, ``tryfirst``/``trylast`` honoured) inside its own ``try``: one
    that raises is logged on ``logger`` by plugin, hook and exception *type* only (the
    message and traceback may quote a phone number, a report or a secret) and the next one
    runs. Wrappers (``wrapper=True`` / ``hookwrapper=True``) still wrap the whole call once.
    """
    impls = hook.get_hookimpls()
    if any(impl.wrapper or impl.hookwrapper for impl in impls):
        return _call_each_wrapped(hook, impls, logger, kwargs)
    failures = 0
    for impl in reversed(impls):
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            failures += 1
            _log_failure(logger, impl, hook.name, exc)
    return failures


def _log_failure(logger: logging.Logger, impl: HookImpl, hook_name: str, exc: Exception) -> None:
    plugin = impl.plugin
    name = getattr(plugin, "__name__", None) or type(plugin).__qualname__  # module or object
    logger.error(
        "twofactor_notify plugin %s raised %s in %s",
        name,
        type(exc).__name__,
        hook_name,
    )


def _call_each_wrapped(
    hook: pluggy.HookCaller, impls: list[HookImpl], logger: logging.Logger, kwargs: Any
) -> int:
    """:func:`call_each` when wrappers are registered: one pluggy call, whose plain
    implementations are replaced by copies that log and swallow their own exceptions."""
    failures = 0

    def guarded(impl: HookImpl) -> HookImpl:
        def call(*args: object) -> object:
            nonlocal failures
            try:
                return impl.function(*args)
            except Exception as exc:
                failures += 1
                _log_failure(logger, impl, hook.name, exc)
                return None

        copy = HookImpl(impl.plugin, impl.plugin_name, call, impl.opts)
        copy.argnames = impl.argnames  # type: ignore[misc]  # the original's call signature
        copy.kwargnames = impl.kwargnames  # type: ignore[misc]
        return copy

    methods = [impl if impl.wrapper or impl.hookwrapper else guarded(impl) for impl in impls]
    try:
        hook._hookexec(hook.name, methods, kwargs, False)
    except Exception as exc:  # a wrapper raised (its own failure; plain ones are guarded)
        failures += 1
        logger.error(
            "a twofactor_notify hook wrapper raised %s in %s", type(exc).__name__, hook.name
        )
    return failures


def _call_safely(hook: Any, logger: logging.Logger, **kwargs: Any) -> None:
    """The transport's name for :func:`call_each` (hooks whose exceptions must not escape)."""
    call_each(hook, logger, **kwargs)
