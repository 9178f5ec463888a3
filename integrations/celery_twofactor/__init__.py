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
  key another worker holds right now;
* gives its message back (``retry`` after :data:`CONFIG_RETRY_DELAY`) when its worker cannot
  build the sender (a malformed background setting): the message stays in the broker for a
  correctly configured worker, and an ERROR names the setting.

A worker also checks the sender when it starts (Celery's ``worker_init`` signal): a worker
whose background setting is malformed refuses to start, with one line naming the setting.

A second task, ``twofactor_notify.republish`` (:func:`republish`), hands over again what
the web processes could not queue (the Django app's outbox) and, with the Redis ledger, what
the broker lost before any worker took it; run it from Celery beat.

Task arguments are the envelope's JSON; Celery's logs show only ``argsrepr`` (the key), so a
message's numbers and text stay out of the worker's log.

Needs ``pip install "twofactor-notify[celery]"``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from celery import shared_task, signals

from twofactor_notify.background import (
    BackgroundSender,
    Envelope,
    EnvelopeError,
    refuse_unreadable,
)
from twofactor_notify.errors import ConfigurationError, QueueUnavailableError
from twofactor_notify.redaction import library_logger

__all__ = [
    "REPUBLISH_TASK_NAME",
    "TASK_NAME",
    "check_worker",
    "enqueue",
    "get_sender",
    "republish",
    "send_envelope",
    "set_republisher",
    "set_sender_provider",
]

logger = library_logger("twofactor_notify.background")

#: The task's registered name (what a worker must know).
TASK_NAME = "twofactor_notify.send_envelope"

#: The re-publisher task's registered name (for a Celery beat schedule).
REPUBLISH_TASK_NAME = "twofactor_notify.republish"

#: Seconds before the first retry when the ledger itself (Redis) cannot be reached.
LEDGER_RETRY_DELAY = 5.0

#: Seconds before a message is first offered again when this worker cannot build its sender.
CONFIG_RETRY_DELAY = 10.0

#: The longest wait between two such retries: each one doubles the wait up to this.
GIVE_BACK_MAX_DELAY = 120.0

_provider: Callable[[], BackgroundSender] | None = None
_check: Callable[[], object] | None = None
_republisher: Callable[..., dict[str, Any]] | None = None
_lock = threading.Lock()


def set_sender_provider(
    provider: Callable[[], BackgroundSender] | None,
    *,
    check: Callable[[], object] | None = None,
) -> None:
    """Tell the task where its :class:`BackgroundSender` comes from.

    ``provider`` is called in the worker for every task (cache inside it if building is
    costly); under Flask it runs in the app context the Celery pattern of Flask's docs sets
    up. ``None`` removes it.

    ``check`` is called once when a Celery worker starts (default: ``provider``); it raises
    :class:`ConfigurationError` when the sender cannot be built, and the worker then refuses
    to start (see :func:`check_worker`).
    """
    global _provider, _check
    with _lock:
        _provider = provider
        _check = check if check is not None or provider is None else provider


def set_republisher(republisher: Callable[..., dict[str, Any]] | None) -> None:
    """Tell :func:`republish` what to run (the Django app registers its outbox's
    re-publisher when ``BACKGROUND["ENGINE"]`` is ``"celery"``, the Flask extension the Redis
    ledger's when ``TWOFACTOR_BACKGROUND["ENGINE"]`` is). ``None`` removes it."""
    global _republisher
    with _lock:
        _republisher = republisher


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
    """Send one queued envelope (``Envelope.to_dict()``); see the module docstring. An
    envelope it cannot read is recorded ``unreadable`` in the ledger, and not sent."""
    try:
        sender = get_sender()
    except Exception as exc:
        # Nothing is claimed yet: acking now (acks_late acks a failed task) would lose the
        # message with no ledger record. Give it back for a correctly configured worker.
        logger.error(
            "queued message %s given back: this worker cannot build its sender (%s)",
            _payload_key(payload),
            _describe(exc),
        )
        raise _retry(self, payload, _backoff(self, CONFIG_RETRY_DELAY), exc) from None
    try:
        envelope = Envelope.from_dict(payload)
    except EnvelopeError as exc:
        # Retrying cannot make it readable (a newer web process wrote it): recorded, not sent
        refused = refuse_unreadable(sender.ledger, payload, exc)
        return {"key": refused.key, "status": "unreadable", "field": exc.field}
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
        raise _retry(self, payload, _backoff(self, LEDGER_RETRY_DELAY), exc) from None
    if outcome.status.again:
        raise _retry(self, payload, max(outcome.retry_after, 0.05))
    record = outcome.record
    return {
        "key": envelope.key,
        "status": outcome.status.value,
        "state": record.state.value if record else None,
    }


def _backoff(task: Any, first: float) -> float:
    """Seconds before this message is tried again while the ledger or the sender is
    unavailable: ``first``, doubled for each retry the message has had, at most
    :data:`GIVE_BACK_MAX_DELAY`; between half and all of that (random), so that the tasks of
    an outage do not all come back in the same second."""
    retries: int = max(0, int(getattr(task.request, "retries", 0) or 0))
    ceiling = min(first * 2 ** min(retries, 32), GIVE_BACK_MAX_DELAY)
    return float(ceiling * random.uniform(0.5, 1.0))


def _retry(task: Any, payload: Any, countdown: float, exc: BaseException | None = None) -> Any:
    """``task.retry``, whose new message shows only the key in logs, as :func:`enqueue`'s
    does (Celery does not carry ``argsrepr`` over to a retry: the text would show)."""
    return task.retry(
        countdown=countdown,
        exc=exc,
        argsrepr=repr((_payload_key(payload),)),
        kwargsrepr="{}",
    )


def _payload_key(payload: Any) -> str:
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) and key.isprintable() and len(key) <= 200 else "?"


def _describe(exc: BaseException) -> str:
    """A configuration error's message (it names the setting); another error's class only
    (its text could hold anything)."""
    if isinstance(exc, ConfigurationError):
        return str(exc.message)
    return type(exc).__name__


def check_worker() -> None:
    """Build the worker's sender once, as a task would; :class:`ConfigurationError` (naming
    the setting) when it cannot be built. Nothing to do when no provider is registered.

    Connected to Celery's ``worker_init`` signal, where the error stops the worker before it
    takes any message.
    """
    check = _check
    if check is not None:
        check()


@signals.worker_init.connect(weak=False)  # type: ignore[untyped-decorator]
def _refuse_bad_worker(**kwargs: Any) -> None:
    try:
        check_worker()
    except Exception as exc:
        line = f"twofactor_notify: this worker cannot send: {_describe(exc)}"
        logger.error(line)
        # Celery logs and swallows a receiver's Exception; SystemExit stops the worker
        raise SystemExit(line) from None


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

    :class:`~twofactor_notify.errors.QueueUnavailableError` when the broker does not take
    the message (after Celery's own publish retries): nothing was queued.
    """
    options: dict[str, Any] = {"argsrepr": repr((envelope.key,)), "kwargsrepr": "{}"}
    if queue:
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    try:
        if app is not None:
            result = app.send_task(TASK_NAME, args=[envelope.to_dict()], **options)
        else:
            result = send_envelope.apply_async(args=[envelope.to_dict()], **options)
    except Exception as exc:
        failure = type(exc).__name__
    else:
        return str(result.id)
    # raised outside the except block: the broker's error (its text and its frames may name
    # the server and its password) is neither chained nor the context; only its class travels
    raise QueueUnavailableError(
        f"the Celery broker did not take queued message {envelope.key} ({failure}); "
        "nothing was queued",
        reason=failure,
    )


@shared_task(  # type: ignore[untyped-decorator]
    name=REPUBLISH_TASK_NAME, ignore_result=True, acks_late=True
)
def republish(grace: float | None = None, older_than: float | None = None) -> dict[str, Any]:
    """Hand over again what could not be queued (run it from Celery beat, e.g. every minute).

    Runs the re-publisher registered with :func:`set_republisher`; its report is returned.
    The Django app's: outbox messages older than ``grace`` seconds that no broker took yet,
    and keys idle for ``older_than`` seconds (the database ledger's, or the Redis ledger's
    noted keys no worker claimed). The Flask extension's: the Redis ledger's noted keys no
    worker claimed for ``grace`` seconds (default 300).
    Running it twice at once is safe: the ledger sends a key once.
    """
    republisher = _republisher
    if republisher is None:
        raise ConfigurationError(
            "no re-publisher: the Django app and the Flask extension register one when "
            "their BACKGROUND engine is 'celery'"
        )
    return republisher(grace=grace, older_than=older_than)
