"""Blinker signals, sent by a per-app core plugin so that every send path fires them.

Connect a receiver like any Flask signal; the sender is the Flask app::

    from flask_twofactor.signals import message_sent

    @message_sent.connect_via(app)
    def audit(app, message, receipt, **extra):
        ...

The signals come from :class:`SignalPlugin`, a ``twofactor_notify`` plugin registered on each
app's transport by ``init_app``: a send made through the extension, the login helper, the
CLI or the transport directly fires them alike, and so does every webhook report. Each
receiver is called on its own: one that raises is logged (its type only) and the others
still run.
"""

from __future__ import annotations

import inspect
import weakref
from typing import TYPE_CHECKING, Any

from blinker import Namespace, Signal

from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import ClickReport, DeliveryReport
from twofactor_notify.redaction import library_logger

if TYPE_CHECKING:
    from flask import Flask

    from twofactor_notify.models import Message, Receipt
    from twofactor_notify.transport import Transport

__all__ = [
    "SignalPlugin",
    "click_received",
    "delivery_received",
    "message_failed",
    "message_sent",
    "send_each",
    "twofactor_signals",
]

logger = library_logger("flask_twofactor.signals")

#: The namespace holding this extension's signals.
twofactor_signals = Namespace()

#: A message was accepted by the transport. Receivers get ``message`` and ``receipt``.
message_sent = twofactor_signals.signal(
    "message-sent", doc="A message was sent; kwargs: message, receipt."
)
#: A send failed (or a ``before_send`` plugin refused it). Receivers get ``message``, ``error``.
message_failed = twofactor_signals.signal(
    "message-failed", doc="A send failed; kwargs: message, error."
)
#: A delivery report arrived through the webhook. Receivers get ``report``.
delivery_received = twofactor_signals.signal(
    "delivery-received", doc="A delivery report arrived; kwargs: report."
)
#: A tracked link was clicked. Receivers get ``report`` (a ``ClickReport``).
click_received = twofactor_signals.signal(
    "click-received", doc="A tracked link was clicked; kwargs: report."
)


def send_each(signal: Signal, sender: object, **kwargs: Any) -> int:
    """Send ``signal``, calling each receiver on its own; returns how many raised.

    ``Signal.send`` stops at the first receiver that raises. Here one that raises is logged
    (receiver and exception type only: its message may quote a number or a report) and the
    others are still called.
    """
    failures = 0
    if getattr(signal, "is_muted", False):
        return 0
    for receiver in signal.receivers_for(sender):
        try:
            if inspect.iscoroutinefunction(receiver):
                raise RuntimeError("an async receiver cannot get a synchronous signal")
            receiver(sender, **kwargs)
        except Exception as exc:
            failures += 1
            logger.error(
                "%s receiver %s raised %s",
                getattr(signal, "name", "signal"),
                getattr(receiver, "__qualname__", type(receiver).__qualname__),
                type(exc).__name__,
            )
    return failures


class SignalPlugin:
    """The core plugin turning ``after_send`` / ``on_delivery`` into this app's signals.

    It holds the app weakly: the app owns the transport, which owns this plugin.
    """

    def __init__(self, app: Flask) -> None:
        self._app = weakref.ref(app)

    def __repr__(self) -> str:
        app = self._app()
        return f"SignalPlugin(app={app.name if app is not None else None!r})"

    @hookimpl
    def after_send(
        self,
        message: Message,
        receipt: Receipt | None,
        error: BaseException | None,
        transport: Transport,
    ) -> None:
        """Send :data:`message_sent` or :data:`message_failed` with the app as sender."""
        app = self._app()
        if app is None:
            return
        if receipt is not None:
            send_each(message_sent, app, message=message, receipt=receipt)
        else:
            send_each(message_failed, app, message=message, error=error)

    @hookimpl
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Transport) -> None:
        """Send :data:`delivery_received` or :data:`click_received` with the app as sender."""
        app = self._app()
        if app is None:
            return
        if isinstance(report, ClickReport):
            send_each(click_received, app, report=report)
        else:
            send_each(delivery_received, app, report=report)
