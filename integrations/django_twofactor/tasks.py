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

import logging
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from twofactor_notify.background import Envelope, EnvelopeError, refuse_unreadable
from twofactor_notify.errors import ConfigurationError, QueueUnavailableError

try:  # Django 6+: the framework is part of Django
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django 5.2: the backport
    try:
        from django_tasks import task  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        raise ConfigurationError(
            "TWOFACTOR_NOTIFY['BACKGROUND']['ENGINE'] 'django-tasks' needs Django 6 or the "
            'django-tasks backport: pip install "twofactor-notify[django-tasks]"',
            key="TWOFACTOR_NOTIFY['BACKGROUND']",
        ) from None

__all__ = ["enqueue", "republish", "send_envelope"]

logger = logging.getLogger("django_twofactor")

#: The longest the task sleeps before enqueueing again on a backend that cannot defer.
MAX_INLINE_WAIT = 5.0


def _task_options() -> dict[str, Any]:
    """The task's defaults: ``BACKGROUND["QUEUE"]`` as its queue (a backend checks the queue
    name when the task is defined, and may not have a ``"default"`` queue)."""
    from django.conf import settings

    raw = getattr(settings, "TWOFACTOR_NOTIFY", None)
    background = raw.get("BACKGROUND") if isinstance(raw, dict) else None
    queue = background.get("QUEUE") if isinstance(background, dict) else None
    return {"queue_name": queue} if isinstance(queue, str) and queue else {}


def send_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    """Send one queued envelope (``Envelope.to_dict()``); see the module docstring. An
    envelope it cannot read is recorded ``unreadable`` in the ledger, and not sent."""
    from .background import get_background_sender

    sender = get_background_sender()
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
send_envelope = task(**_task_options())(send_envelope)  # type: ignore[assignment,unused-ignore]


def enqueue(envelope: Envelope, *, queue: str | None = None, delay: float = 0.0) -> str:
    """Hand ``envelope`` to the project's task backend (on ``queue``, after ``delay``
    seconds); the task result's id. The Django helpers call it when the transaction commits.

    :class:`~twofactor_notify.errors.QueueUnavailableError` when the backend does not take
    it (its database or broker failed): nothing was queued."""
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
        runner = runner.using(**options)
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


republish = task(**_task_options())(republish)  # type: ignore[assignment,unused-ignore]
