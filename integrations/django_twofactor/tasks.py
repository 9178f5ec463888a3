"""The task for Django's task framework: ``django_twofactor.tasks.send_envelope``.

Used when ``TWOFACTOR_NOTIFY["BACKGROUND"]["ENGINE"]`` is ``"django-tasks"``: on Django 6 the
framework is ``django.tasks``; on Django 5.2 the ``django-tasks`` backport provides it. The task
runs on whichever backend the project's ``TASKS`` setting names (``django-tasks-db``'s
database backend and its ``db_worker`` are the ones this project tests).

The task sends one envelope at most once through the app's
:class:`~twofactor_notify.background.BackgroundSender` (the ledger decides, however often the
backend runs the task). When the outcome says "again" (a failure proven not sent, a key
another worker holds) it enqueues the same envelope again, deferred by the outcome's delay
when the backend supports ``run_after``.

Needs ``pip install "twofactor-notify[django-tasks]"``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from twofactor_notify.background import Envelope, EnvelopeError, refuse_unreadable
from twofactor_notify.errors import ConfigurationError, QueueUnavailableError
from twofactor_notify.redaction import library_logger

from .conf import on_reset

# Importing this module never fails: Celery's ``autodiscover_tasks()`` imports the ``tasks``
# module of every installed app, so an error here would stop a Celery-only project's worker.
# Without a task framework the functions stay plain, and :func:`enqueue` says what is missing.
_task: Any
try:  # Django 6+: the framework is part of Django
    from django.tasks import task as _task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django 5.2: the backport
    try:
        from django_tasks import task as _task  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        _task = None

#: Why the tasks could not be defined (no framework, or the backend refused them); ``None``
#: when they were.
UNAVAILABLE: str | None = None

__all__ = ["UNAVAILABLE", "enqueue", "republish", "send_envelope"]

logger = library_logger("django_twofactor")

#: The longest the task sleeps before enqueueing again on a backend that cannot defer.
MAX_INLINE_WAIT = 5.0

#: Seconds before a message is offered again when this worker cannot build its sender.
CONFIG_RETRY_DELAY = 10.0


def _task_options() -> dict[str, Any]:
    """The task's defaults: ``BACKGROUND["QUEUE"]`` as its queue when the engine is
    ``"django-tasks"`` (a backend checks the queue name when the task is defined, and may not
    have a ``"default"`` queue). With another engine the queue is that engine's, not the task
    backend's: it is not passed."""
    from django.conf import settings

    raw = getattr(settings, "TWOFACTOR_NOTIFY", None)
    background = raw.get("BACKGROUND") if isinstance(raw, dict) else None
    if not isinstance(background, dict) or background.get("ENGINE") != "django-tasks":
        return {}
    queue = background.get("QUEUE")
    return {"queue_name": queue} if isinstance(queue, str) and queue else {}


#: The plain functions behind the tasks, to define them again when the settings change.
_PLAIN: dict[str, Any] = {}


def _define(function: Any) -> Any:
    """``function`` as a task of the project's task backend; the plain function (and the
    reason in :data:`UNAVAILABLE`) when there is no framework or the backend refuses it."""
    global UNAVAILABLE
    _PLAIN[function.__name__] = function
    if _task is None:
        UNAVAILABLE = (
            "TWOFACTOR_NOTIFY['BACKGROUND']['ENGINE'] 'django-tasks' needs Django 6 or the "
            'django-tasks backport: pip install "twofactor-notify[django-tasks]"'
        )
        return function
    try:
        return _task(**_task_options())(function)
    except Exception as exc:  # the backend's own check (InvalidTask: a queue it lacks)
        UNAVAILABLE = (
            f"the task backend refused django_twofactor's task ({type(exc).__name__}: {exc}); "
            "check TWOFACTOR_NOTIFY['BACKGROUND']['QUEUE'] against TASKS"
        )
        return function


def send_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """Send one queued envelope (``Envelope.to_dict()``); see the module docstring. An
    envelope it cannot read is recorded ``unreadable`` in the ledger, and not sent."""
    from .background import get_background_sender

    try:
        sender = get_background_sender()
    except Exception as exc:
        _give_back(payload, exc)
        return {"key": _payload_key(payload), "status": "given_back", "state": None}
    try:
        envelope = Envelope.from_dict(payload)
    except EnvelopeError as exc:
        # running it again cannot make it readable (a newer web process wrote it): recorded
        refused = refuse_unreadable(sender.ledger, payload, exc)
        return {"key": refused.key, "status": "unreadable", "field": exc.field}
    outcome = sender.send(envelope)
    if outcome.status.again:
        enqueue(envelope, delay=outcome.retry_after)
    record = outcome.record
    return {
        "key": envelope.key,
        "status": outcome.status.value,
        "state": record.state.value if record else None,
    }


# the worker finds the task by this module's name for it: the Task replaces the function
send_envelope = _define(send_envelope)


def _payload_key(payload: Any) -> str:
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) and key.isprintable() and len(key) <= 200 else "?"


def _give_back(payload: dict[str, Any], exc: Exception) -> None:
    """This worker cannot build its sender (nothing is claimed): enqueue ``payload``
    unchanged, deferred by :data:`CONFIG_RETRY_DELAY`, on the task's own queue, so a
    correctly configured worker can take it. On a backend that cannot defer (it would run
    the copy at once, in this same worker) the error is raised instead: the backend keeps
    the task as failed, with its argument."""
    reason = exc.message if isinstance(exc, ConfigurationError) else type(exc).__name__
    key = _payload_key(payload)
    runner: Any = send_envelope
    if not hasattr(runner, "get_backend") or not runner.get_backend().supports_defer:
        logger.error("queued message %s: this worker cannot build its sender (%s)", key, reason)
        raise exc
    logger.error(
        "queued message %s given back: this worker cannot build its sender (%s)", key, reason
    )
    run_after = timezone.now() + timedelta(seconds=CONFIG_RETRY_DELAY)
    runner.using(run_after=run_after).enqueue(payload)


def enqueue(envelope: Envelope, *, queue: str | None = None, delay: float = 0.0) -> str:
    """Hand ``envelope`` to the project's task backend (on ``queue``, after ``delay``
    seconds); the task result's id. The Django helpers call it when the transaction commits.

    :class:`~twofactor_notify.errors.QueueUnavailableError` when the backend does not take
    it (its database or broker failed): nothing was queued."""
    if UNAVAILABLE is not None:
        raise ConfigurationError(UNAVAILABLE, key="TWOFACTOR_NOTIFY['BACKGROUND']")
    if queue is None:
        from .background import get_options

        queue = get_options().queue
    options: dict[str, Any] = {}
    if queue:
        options["queue_name"] = queue
    runner: Any = send_envelope
    if delay > 0:
        if runner.get_backend().supports_defer:
            options["run_after"] = timezone.now() + timedelta(seconds=delay)
        else:
            time.sleep(min(delay, MAX_INLINE_WAIT))
    if options:
        try:
            runner = runner.using(**options)
        except Exception as exc:  # the backend's own check (InvalidTask: a queue it lacks)
            refused = f"{type(exc).__name__}: {exc}"
        else:
            refused = ""
        if refused:
            raise ConfigurationError(
                f"the task backend refused django_twofactor's task on queue {queue!r} "
                f"({refused}); check TWOFACTOR_NOTIFY['BACKGROUND']['QUEUE'] against TASKS",
                key="TWOFACTOR_NOTIFY['BACKGROUND']['QUEUE']",
            )
    try:
        return str(runner.enqueue(envelope.to_dict()).id)
    except Exception as exc:
        failure = type(exc).__name__
    # outside the except block: the backend's error (it may name its server) is neither
    # chained nor the context; only its class travels
    raise QueueUnavailableError(
        f"the task backend did not take queued message {envelope.key} ({failure}); "
        "nothing was queued",
        reason=failure,
    )


def republish(grace: float | None = None, older_than: float | None = None) -> dict[str, Any]:
    """Hand over again what the web processes could not queue:
    :func:`django_twofactor.outbox.republish` as a task, for a project that schedules tasks
    (``twofactor_requeue`` does the same from cron)."""
    from .outbox import republish as run

    return run(grace=grace, older_than=older_than).as_dict()


republish = _define(republish)


@on_reset
def _define_again() -> None:
    """``TWOFACTOR_NOTIFY`` changed (``override_settings``, a test): the tasks are defined
    again, on the queue it names now, and :data:`UNAVAILABLE` says what it says now."""
    global UNAVAILABLE, send_envelope, republish
    UNAVAILABLE = None
    send_envelope = _define(_PLAIN["send_envelope"])
    republish = _define(_PLAIN["republish"])
