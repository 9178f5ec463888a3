"""Queued sending for the Django app, configured by ``TWOFACTOR_NOTIFY["BACKGROUND"]``.

The helpers' ``background=True`` ends here: the message is checked now (the caller hears
about a bad number at once), wrapped in an :class:`~twofactor_notify.background.Envelope`,
and handed to the queue engine only when the surrounding database transaction commits
(``transaction.on_commit``), so a rolled-back request never sends.

Engines are looked up in :data:`ENQUEUERS` by ``BACKGROUND["ENGINE"]``: ``"celery"`` and
``"django-tasks"`` (Django's task framework, :mod:`django_twofactor.tasks`). Ledgers by
``BACKGROUND["LEDGER"]``: the core's ``"redis"`` and this app's ``"database"``
(:class:`~django_twofactor.ledger.DatabaseLedger`); the message log has a row for each
recipient from the moment the message is queued.

Every queued message is also written to the outbox (:mod:`django_twofactor.outbox`) in the
caller's transaction, so a queue that fails as the transaction commits loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from django.conf import settings as django_settings
from django.core import checks
from django.db import transaction

from twofactor_notify.background import (
    BackgroundSender,
    Envelope,
    SendLedger,
    SendOutcome,
    check_message,
)
from twofactor_notify.background.config import (
    BackgroundOptions,
    build_ledger,
    build_sender,
    check_lease,
)
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.bulk import background_batches
from twofactor_notify.errors import ConfigurationError, TwoFactorError
from twofactor_notify.models import BulkMessage, Message, SMSMessage
from twofactor_notify.redaction import library_logger
from twofactor_notify.validation import MAX_BULK_CHUNK

from .conf import SETTING_NAME, get_settings, on_reset
from .ledger import sending_queued

__all__ = [
    "ENQUEUERS",
    "LEDGERS",
    "DjangoBackgroundSender",
    "check_background",
    "connect_worker",
    "get_background_sender",
    "get_ledger",
    "get_options",
    "get_redis_ledger",
    "queue_mass_sms",
    "queue_message",
    "queue_sms",
]


logger = library_logger("django_twofactor")


def _enqueue_celery(envelope: Envelope, options: BackgroundOptions) -> None:
    from celery_twofactor import enqueue

    enqueue(envelope, queue=options.queue)


def _enqueue_django_tasks(envelope: Envelope, options: BackgroundOptions) -> None:
    from .tasks import enqueue

    enqueue(envelope, queue=options.queue)


#: Engine name -> function that hands an envelope to that engine (called after commit).
ENQUEUERS: dict[str, Callable[[Envelope, BackgroundOptions], None]] = {
    "celery": _enqueue_celery,
    "django-tasks": _enqueue_django_tasks,
}


def _database_ledger(options: BackgroundOptions) -> SendLedger:
    from .ledger import DatabaseLedger

    return DatabaseLedger()


#: Ledger name -> function building that ledger (``"redis"`` is built by the core from
#: ``REDIS_URL``).
LEDGERS: dict[str, Callable[[BackgroundOptions], SendLedger]] = {
    "database": _database_ledger,
}


class DjangoBackgroundSender(BackgroundSender):
    """The worker's sender: marks each send as that of its queued message, so the message
    log plugin fills in the rows the message was queued with instead of adding rows."""

    def send(self, envelope: Envelope) -> SendOutcome:
        """:meth:`BackgroundSender.send`, with the message log told which key it is."""
        with sending_queued(envelope.key):
            return super().send(envelope)


_lock = threading.Lock()
_options: BackgroundOptions | None = None
_sender: BackgroundSender | None = None


@on_reset
def _reset() -> None:
    global _options, _sender
    with _lock:
        _options = None
        _sender = None


def get_options() -> BackgroundOptions:
    """The parsed ``TWOFACTOR_NOTIFY["BACKGROUND"]``; :class:`ConfigurationError` naming the
    key when it is missing or malformed."""
    global _options
    with _lock:
        if _options is None:
            raw = (getattr(django_settings, SETTING_NAME, None) or {}).get("BACKGROUND")
            where = f"{SETTING_NAME}['BACKGROUND']"
            if raw is None:
                raise ConfigurationError(
                    f"{where} is not set: background sending needs a queue engine "
                    "(ENGINE 'celery' or 'django-tasks')",
                    key=where,
                )
            _options = _parse(raw)
        return _options


def _parse(raw: Any) -> BackgroundOptions:
    """``BACKGROUND`` parsed and checked against ``TIMEOUT`` (a lease must outlive the
    request it covers); :class:`ConfigurationError` naming the key. The system check
    ``django_twofactor.E020`` and every background send read it the same way."""
    options = BackgroundOptions.from_mapping(
        raw,
        where=f"{SETTING_NAME}['BACKGROUND']",
        engines=tuple(name for name in ENQUEUERS if name != "celery"),
        ledgers=tuple(LEDGERS),
    )
    check_lease(options, get_settings().timeout)
    return options


def _configured_ledger(options: BackgroundOptions) -> SendLedger:
    make_ledger = LEDGERS.get(options.ledger)
    return make_ledger(options) if make_ledger is not None else build_ledger(options)


def get_ledger() -> SendLedger:
    """The ledger ``BACKGROUND`` configures, built as the workers build theirs (the Redis
    ledger at ``REDIS_URL``/``KEY_PREFIX``, or the database ledger), with the message log
    following it as the workers' does: what ``twofactor_status`` and the admin read."""
    return get_background_sender().ledger


def get_redis_ledger() -> RedisLedger | None:
    """The Redis ledger ``BACKGROUND`` configures (without the message log around it), or
    ``None`` when ``LEDGER`` is not ``"redis"``: where queued keys are noted."""
    if get_options().ledger != "redis":
        return None
    ledger: Any = get_background_sender().ledger
    ledger = getattr(ledger, "inner", ledger)
    return ledger if isinstance(ledger, RedisLedger) else None


def get_background_sender() -> BackgroundSender:
    """The worker's sender: the app's transport, the Redis ledger and account throttle."""
    global _sender
    from .api import get_transport

    options = get_options()
    with _lock:
        if _sender is None:
            core = build_sender(get_transport(), options, ledger=_configured_ledger(options))
            shared = core.ledger
            if options.ledger != "database" and get_settings().log_messages:
                from .ledger import MessageLogLedger

                shared = MessageLogLedger(shared)  # the log follows the Redis ledger too
            _sender = DjangoBackgroundSender(
                core.transport, shared, core.throttle, policy=core.policy, lease=core.lease
            )
        return _sender


def queue_message(
    message: Message, *, key: str | None = None, using: str | None = None
) -> Envelope:
    """Check ``message``, and queue it when the transaction on ``using`` commits (at once
    outside a transaction). Returns the envelope (its ``key`` finds it in the ledger)."""
    from .api import get_transport

    options = get_options()
    envelope = Envelope.wrap(check_message(get_transport(), message), key=key)
    from . import outbox

    # in the caller's transaction (or one of their own outside it): a rollback takes the
    # ledger row, the log rows and the outbox row with it
    with transaction.atomic(using=using):
        if options.ledger == "database":
            from .ledger import DatabaseLedger

            DatabaseLedger(using=using).queue(envelope, log=get_settings().log_messages)
        elif get_settings().log_messages:
            from .ledger import queue_log_rows

            queue_log_rows(envelope, using=using)
        # if the queue fails after the commit, the envelope waits here for the re-publisher
        kept = outbox.write(envelope, using=using)
        transaction.on_commit(
            partial(outbox.publish, envelope, options, kept=kept, using=using), using=using
        )
    return envelope


def queue_sms(
    to: str | Iterable[str],
    text: str,
    *,
    sender: str | None = None,
    fail_silently: bool = False,
    key: str | None = None,
    **options: Any,
) -> Envelope | None:
    """``send_sms(..., background=True)``: check, then queue after commit. With
    ``fail_silently`` a refused message is logged and ``None`` returned; a configuration
    error is raised all the same."""
    get_options()  # a configuration error is never silenced
    recipients = (to,) if isinstance(to, str) else tuple(to)
    try:
        message = SMSMessage(
            to=recipients, text=text, sender=sender or get_settings().sender_id or "", **options
        )
        return queue_message(message, key=key)
    except ConfigurationError:
        raise
    except TwoFactorError as exc:
        if not fail_silently:
            raise
        logger.warning("send_sms(background=True) refused: %s", type(exc).__name__)
        return None


def queue_mass_sms(
    messages: Iterable[BulkMessage | Mapping[str, Any]],
    *,
    chunk_size: int = MAX_BULK_CHUNK,
    key: str | None = None,
) -> list[Envelope]:
    """``send_mass_sms(..., background=True)``: one envelope per request of ``chunk_size``
    messages (keys ``key:0``, ``key:1``… when ``key`` is given), each queued after commit."""
    get_options()
    return [
        queue_message(batch, key=batch_key)
        for batch, batch_key in background_batches(messages, chunk_size, key)
    ]


@checks.register("django_twofactor")
def check_background(**kwargs: Any) -> list[checks.CheckMessage]:
    """System check ``django_twofactor.E020``: ``BACKGROUND`` is malformed, or its
    ``LEASE_SECONDS`` is not above ``TIMEOUT`` (the error names the key), so that it fails at
    start-up rather than at the first queued send or in a worker."""
    raw = getattr(django_settings, SETTING_NAME, None)
    if not isinstance(raw, Mapping) or raw.get("BACKGROUND") is None:
        return []
    try:
        get_settings()
    except ConfigurationError:
        return []  # a malformed TWOFACTOR_NOTIFY is reported by its own check
    try:
        _parse(raw["BACKGROUND"])
    except ConfigurationError as exc:
        return [checks.Error(exc.message, id="django_twofactor.E020")]
    return []


def connect_worker() -> None:
    """Give the Celery task this app's sender (called from the app's ``ready()`` when
    ``BACKGROUND["ENGINE"]`` is ``"celery"``)."""
    raw: Any = (getattr(django_settings, SETTING_NAME, None) or {}).get("BACKGROUND")
    if not isinstance(raw, dict) or raw.get("ENGINE") != "celery":
        return
    from celery_twofactor import set_republisher, set_sender_provider

    set_sender_provider(get_background_sender)
    set_republisher(_republish_for_celery)


def _republish_for_celery(**kwargs: Any) -> dict[str, Any]:
    from .outbox import republish

    return republish(**kwargs).as_dict()
