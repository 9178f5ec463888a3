"""Queued sending for the Flask extension, configured by ``TWOFACTOR_BACKGROUND``.

``TWOFACTOR_BACKGROUND`` takes the keys of
:class:`~twofactor_notify.background.config.BackgroundOptions` (``ENGINE``, ``REDIS_URL``,
``QUEUE``, ``ACCOUNT_RATE_LIMIT``…). It works with the Celery pattern of Flask's own
documentation: an app factory calls ``celery_init_app(app)``, whose task class runs every
task inside ``app.app_context()``; the send task then finds this app's sender through
``current_app``. When ``app.extensions["celery"]`` holds the Celery app (as in that pattern),
messages are queued on it; otherwise on Celery's current app.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Flask, current_app

from twofactor_notify.background import BackgroundSender, Envelope, check_message
from twofactor_notify.background.config import BackgroundOptions, build_sender, check_lease
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.background.requeue import call_ledger
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.models import Message

__all__ = [
    "EXTENSION_KEY",
    "FlaskBackground",
    "current_sender",
    "init_background",
    "queue_message",
    "republish_current",
]

#: Where the background state lives: ``app.extensions["twofactor_background"]``.
EXTENSION_KEY = "twofactor_background"


@dataclass(eq=False)
class FlaskBackground:
    """One app's background options and (built on first use) its worker sender."""

    options: BackgroundOptions
    _sender: BackgroundSender | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sender(self, app: Flask) -> BackgroundSender:
        """The sender of ``app``: its transport, the Redis ledger and account throttle."""
        from .extension import get_state

        with self._lock:
            if self._sender is None:
                self._sender = build_sender(get_state(app).transport, self.options)
            return self._sender


def init_background(app: Flask) -> None:
    """Read ``TWOFACTOR_BACKGROUND`` (nothing to do when unset) and, for Celery, give the
    send task a way to find the current app's sender. Called by ``init_app``.

    :raises ConfigurationError: naming the key, for a malformed value and for a
        ``LEASE_SECONDS`` not above ``TWOFACTOR_TIMEOUT``; a Celery worker started from this
        app builds its sender when it starts, and refuses to start on the same errors.
    """
    from .extension import get_state

    raw = app.config.get("TWOFACTOR_BACKGROUND")
    if raw is None:
        return
    options = BackgroundOptions.from_mapping(raw, where="TWOFACTOR_BACKGROUND")
    check_lease(options, get_state(app).config.timeout)
    app.extensions[EXTENSION_KEY] = FlaskBackground(options)
    if options.engine == "celery":
        from celery_twofactor import set_republisher, set_sender_provider

        set_sender_provider(current_sender, check=partial(_check_sender, weakref.ref(app)))
        set_republisher(republish_current)


def _check_sender(app_ref: weakref.ref[Flask]) -> None:
    """Build the sender of the app, in its context, as a task would (at worker start)."""
    app = app_ref()
    if app is not None:
        with app.app_context():
            current_sender()


def _background(app: Flask) -> FlaskBackground:
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, FlaskBackground):
        raise ConfigurationError(
            "TWOFACTOR_BACKGROUND is not set: background sending needs a queue engine and a "
            "Redis URL",
            key="TWOFACTOR_BACKGROUND",
        )
    return state


def current_sender() -> BackgroundSender:
    """The sender of ``current_app`` (the Celery task calls this inside the app context)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return _background(app).sender(app)


def queue_message(message: Message, *, key: str | None = None) -> Envelope:
    """Check ``message`` as a send would, and queue it; the envelope is returned."""
    from celery_twofactor import enqueue

    from .extension import get_state

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    background = _background(app)
    envelope = Envelope.wrap(check_message(get_state(app).transport, message), key=key)
    ledger = background.sender(app).ledger
    redis = ledger if isinstance(ledger, RedisLedger) else None
    # a key of the caller's may be reused by mistake; a generated one names one message
    marked = noted = False
    if redis is not None and key is not None:
        marked = call_ledger(lambda: redis.hold_key(envelope), envelope)
    celery_app: Any = app.extensions.get("celery")
    try:
        if redis is not None:  # noted before the broker has it: a lost one is queued again
            call_ledger(lambda: redis.note_queued(envelope), envelope)
            noted = True
        enqueue(envelope, app=celery_app, queue=background.options.queue)
    except BaseException:
        # not queued: the key names nothing yet, and nothing is to be queued again
        if redis is not None and noted:
            with contextlib.suppress(Exception):
                redis.forget_queued(envelope)
        if redis is not None and marked:
            with contextlib.suppress(Exception):
                redis.release_key(envelope)
        raise
    return envelope


def republish_current(
    grace: float | None = None, older_than: float | None = None
) -> dict[str, Any]:
    """Queue again the messages of ``current_app`` that the broker lost before any worker
    took them: keys noted in the Redis ledger at least ``older_than`` (or ``grace``) seconds
    ago, default 300, that no worker claimed. The Celery task ``twofactor_notify.republish``
    runs it (schedule it with beat); its report is returned."""
    from celery_twofactor import enqueue
    from twofactor_notify.background.requeue import requeue_unclaimed

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    background = _background(app)
    ledger = background.sender(app).ledger
    if not isinstance(ledger, RedisLedger):
        return {"requeued": [], "lost": [], "refused": 0}
    celery_app: Any = app.extensions.get("celery")
    queue = background.options.queue
    report = requeue_unclaimed(
        ledger,
        lambda envelope: enqueue(envelope, app=celery_app, queue=queue),
        grace=older_than if older_than is not None else grace,
    )
    return report.as_dict()
