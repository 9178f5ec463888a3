"""The Celery adapter: the task ``twofactor_notify.send_envelope``, at most once per key.

Importing this package registers the task with every Celery app (it is a ``shared_task``).
It is an adapter beside the Django app and the Flask extension, not part of the core: Celery
(through Kombu) imports Django whenever Django is installed, and the core imports no
framework. The task:

* acknowledges its message only after the send (``acks_late``), and not when the worker
  process dies mid-task (``reject_on_worker_lost``): the broker delivers it again, and the
  ledger decides — a key that may have reached 2Factor is recorded unknown, never resent;
* runs :func:`~twofactor_notify.background.worker.send_enveloped` with the worker's
  :class:`~twofactor_notify.background.worker.BackgroundSender`, found through
  :func:`set_sender_provider` (the Django app and the Flask extension register one);
* retries itself (``countdown``) when the outcome says so: a failure proven not sent, or a
  key another worker holds right now.

Task arguments are the envelope's JSON; Celery's logs show only ``argsrepr`` (the key), so a
message's numbers and text stay out of the worker's log.

Needs ``pip install "twofactor-notify[celery]"``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from celery import shared_task

from twofactor_notify.background import BackgroundSender, Envelope, EnvelopeError
from twofactor_notify.errors import ConfigurationError

__all__ = [
    "TASK_NAME",
    "enqueue",
    "get_sender",
    "send_envelope",
    "set_sender_provider",
]

logger = logging.getLogger("twofactor_notify.background")

#: The task's registered name (what a worker must know).
TASK_NAME = "twofactor_notify.send_envelope"

#: Seconds between retries when the ledger itself (Redis) cannot be reached.
LEDGER_RETRY_DELAY = 5.0

_provider: Callable[[], BackgroundSender] | None = None
_lock = threading.Lock()


def set_sender_provider(provider: Callable[[], BackgroundSender] | None) -> None:
    """Tell the task where its :class:`BackgroundSender` comes from.

    ``provider`` is called in the worker for every task (cache inside it if building is
    costly); under Flask it runs in the app context the Celery pattern of Flask's docs sets
    up. ``None`` removes it.
    """
    global _provider
    with _lock:
        _provider = provider


def get_sender() -> BackgroundSender:
    """The sender of the registered provider; :class:`ConfigurationError` when none is."""
    provider = _provider
    if provider is None:
        raise ConfigurationError(
            "no background sender: configure the Django app's or the Flask extension's "
            "BACKGROUND setting, or call set_sender_provider() in the worker"
        )
    return provider()


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    name=TASK_NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def send_envelope(self: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Send one queued envelope (``Envelope.to_dict()``); see the module docstring."""
    try:
        envelope = Envelope.from_dict(payload)
    except EnvelopeError as exc:
        # Retrying cannot make it readable; the web process that queued it is out of date.
        logger.error("queued message refused: %s (field %s)", exc.message, exc.field)
        return {"status": "unreadable", "field": exc.field}
    sender = get_sender()
    try:
        outcome = sender.send(envelope)
    except ConfigurationError:
        raise
    except Exception as exc:  # the ledger (Redis) failed; the claim, if any, protects us
        logger.warning(
            "queued message %s: ledger unavailable (%s); retrying",
            envelope.key,
            type(exc).__name__,
        )
        raise self.retry(countdown=LEDGER_RETRY_DELAY, exc=exc) from None
    if outcome.status.again:
        raise self.retry(countdown=max(outcome.retry_after, 0.05))
    record = outcome.record
    return {
        "key": envelope.key,
        "status": outcome.status.value,
        "state": record.state.value if record else None,
    }


def enqueue(
    envelope: Envelope,
    *,
    app: Any = None,
    queue: str | None = None,
    countdown: float | None = None,
) -> str:
    """Queue ``envelope`` for :func:`send_envelope` on ``app`` (default: Celery's current
    app); the Celery task id.

    Call it after the data the message describes is committed (the Django helpers do this
    with ``transaction.on_commit``).
    """
    options: dict[str, Any] = {"argsrepr": repr((envelope.key,)), "kwargsrepr": "{}"}
    if queue:
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    if app is not None:
        result = app.send_task(TASK_NAME, args=[envelope.to_dict()], **options)
    else:
        result = send_envelope.apply_async(args=[envelope.to_dict()], **options)
    return str(result.id)
