"""The outbox: nothing queued in the background is lost when the task queue fails.

``send_sms(..., background=True)`` writes the message's envelope to
:class:`~django_twofactor.models.OutboxMessage` inside the caller's transaction, and hands
it to the queue engine when the transaction commits (:func:`publish`). If the broker refuses
or is down at that moment, the failure is recorded on the row (``attempts``, ``error``) and
logged; it is not raised into the request, whose data is committed. :func:`republish` (the
``twofactor_requeue`` command, the Celery task ``twofactor_notify.republish``, the task
``django_twofactor.tasks.republish``) hands such rows over again once they are ``grace``
seconds old.

Handing a message over twice is safe: a worker sends a key only after claiming it in the
ledger, so a copy whose original did reach a worker is a duplicate and is not sent.

An OTP with a code of its own gets no row (no model holds an OTP value): a failed hand-over
of it raises :class:`~twofactor_notify.errors.QueueUnavailableError` after the commit, and
its ledger and message log rows become ``failed`` ("not handed over"): it is never sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.db import router
from django.db.models import F
from django.utils import timezone

from twofactor_notify.background import Envelope, EnvelopeError
from twofactor_notify.background.config import BackgroundOptions
from twofactor_notify.errors import QueueUnavailableError
from twofactor_notify.models import OTPMessage
from twofactor_notify.redaction import library_logger

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_IDLE",
    "NOT_HANDED_OVER",
    "RepublishReport",
    "keeps",
    "publish",
    "republish",
    "waiting",
    "write",
]

logger = library_logger("django_twofactor")

#: Seconds an outbox row is left to its own hand-over (right after the commit) before the
#: re-publisher takes it.
DEFAULT_GRACE = 60.0
#: Seconds a database-ledger key may wait unclaimed (``queued``, ``retry_wait``) before the
#: re-publisher enqueues it again (its task may be lost).
DEFAULT_IDLE = 600.0


def keeps(envelope: Envelope) -> bool:
    """True when the outbox may keep ``envelope``: anything but an OTP with its own code."""
    message = envelope.message
    return not (isinstance(message, OTPMessage) and message.otp is not None)


def _db(using: str | None) -> str:
    from .models import OutboxMessage

    return using or router.db_for_write(OutboxMessage)


def write(envelope: Envelope, *, using: str | None = None) -> bool:
    """Write ``envelope``'s outbox row in the current transaction (a rollback removes it);
    False, writing nothing, for an envelope the outbox does not keep (see :func:`keeps`).
    A key already waiting keeps its row (queueing one message twice sends it once)."""
    from .models import OutboxMessage

    if not keeps(envelope):
        return False
    OutboxMessage.objects.using(_db(using)).bulk_create(
        [OutboxMessage(key=envelope.key, kind=envelope.kind, envelope=envelope.to_dict())],
        ignore_conflicts=True,
    )
    return True


def _hand_over(envelope: Envelope, options: BackgroundOptions) -> None:
    from .background import ENQUEUERS

    ENQUEUERS[options.engine](envelope, options)


def _note(envelope: Envelope, options: BackgroundOptions) -> Any:
    """Note ``envelope`` as queued in the Redis ledger (with ``LEDGER`` ``"redis"``); the
    ledger, or ``None`` for another ledger. Redis not answering: :class:`QueueUnavailableError`
    (no worker could send it either)."""
    if options.ledger != "redis":
        return None
    from twofactor_notify.background.requeue import call_ledger

    from .background import get_redis_ledger

    ledger = call_ledger(get_redis_ledger, envelope)
    if ledger is not None:
        call_ledger(lambda: ledger.note_queued(envelope), envelope)
    return ledger


def publish(
    envelope: Envelope, options: BackgroundOptions, *, kept: bool, using: str | None = None
) -> bool:
    """Hand ``envelope`` to the queue engine (called when the transaction commits) and
    remove its outbox row; True when the queue took it.

    When the queue does not take it, a kept envelope's row records the failure and waits
    for :func:`republish` (logged at ERROR, not raised); one the outbox could not keep
    (``kept`` false) raises :class:`QueueUnavailableError`.
    """
    from .models import OutboxMessage

    rows = OutboxMessage.objects.using(_db(using)).filter(key=envelope.key)
    noted = None
    try:
        # the Redis ledger notes it before the broker has it: a message the broker loses
        # before a worker takes it is queued again by the re-publisher
        noted = _note(envelope, options)
        _hand_over(envelope, options)
    except QueueUnavailableError as exc:
        if noted is not None:  # not queued: the outbox row (or nothing) stands for it
            try:
                noted.forget_queued(envelope)
            except Exception as redis_exc:
                logger.warning(
                    "queued message %s: note not removed (%s)",
                    envelope.key,
                    type(redis_exc).__name__,
                )
        if not kept:
            _never_sent(envelope, options, using, exc.reason)
            raise
        logger.error(
            "queued message %s was not handed to the task queue (%s); it waits in the "
            "outbox for twofactor_requeue",
            envelope.key,
            exc.reason,
        )
        try:
            rows.update(attempts=F("attempts") + 1, error=exc.reason[:64], tried_at=timezone.now())
        except Exception as db_exc:  # the row stays as it was: still handed over later
            logger.error("outbox row %s not updated: %s", envelope.key, type(db_exc).__name__)
        return False
    try:
        rows.delete()
    except Exception as db_exc:  # the row stays: handed over again later, sent once
        logger.warning("outbox row %s not removed: %s", envelope.key, type(db_exc).__name__)
    return True


#: The error a key's ledger row and log rows get when the queue refused a message the
#: outbox could not keep (an OTP with its own code): it will never be sent.
NOT_HANDED_OVER = "not handed over"


def _never_sent(
    envelope: Envelope, options: BackgroundOptions, using: str | None, why: str
) -> None:
    """A message nothing can hand over again: its database-ledger row (``queued``) and its
    log rows (``task_queued``) become ``failed``, so that none waits for a send that will not
    come. A database failure here is logged; the caller's error is raised all the same."""
    from .ledger import move_log
    from .models import MessageStatus, QueuedMessage, QueuedState

    db = _db(using)
    try:
        if options.ledger == "database":
            QueuedMessage.objects.using(db).filter(
                key=envelope.key, state=QueuedState.QUEUED
            ).update(
                state=QueuedState.FAILED,
                error=f"{NOT_HANDED_OVER}: {why}"[:500],
                updated_at=timezone.now(),
            )
        move_log(db, envelope.key, "failed", frm=[MessageStatus.TASK_QUEUED], error=NOT_HANDED_OVER)
    except Exception as db_exc:
        logger.error("queued message %s not marked failed: %s", envelope.key, type(db_exc).__name__)


@dataclass(frozen=True, slots=True)
class RepublishReport:
    """What :func:`republish` did.

    :param handed_over: outbox rows the queue took now (their rows are gone).
    :param refused: outbox rows the queue refused again (it stops at the first: the queue
        is down); they stay for the next run.
    :param waiting: outbox rows still waiting after this run (the refused ones included).
    :param unreadable: outbox rows this process cannot read (written by a newer version;
        upgrade this one); left as they are.
    :param requeued: keys idle for ``older_than`` seconds, enqueued again: database-ledger
        keys still ``queued`` or ``retry_wait``, or Redis-ledger keys no worker claimed.
    :param lost: Redis-ledger keys no worker claimed that cannot be sent again (an OTP with
        its own code), recorded ``failed`` ("not handed over").
    :param keys: the keys handed over or enqueued again (with ``dry_run``: that would be).
    """

    handed_over: int = 0
    refused: int = 0
    waiting: int = 0
    unreadable: int = 0
    requeued: int = 0
    lost: int = 0
    keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The report as a task's JSON result."""
        data = asdict(self)
        data["keys"] = list(self.keys)
        return data

    def __str__(self) -> str:
        parts = [f"{self.handed_over} handed over from the outbox"]
        if self.waiting:
            parts.append(f"{self.waiting} still waiting")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable here (written by a newer version)")
        parts.append(f"{self.requeued} idle keys enqueued again")
        if self.lost:
            parts.append(f"{self.lost} lost by the queue and not sendable again (recorded failed)")
        return ", ".join(parts) + "."


def waiting(older_than: float = 0.0, *, using: str | None = None) -> Any:
    """The outbox rows at least ``older_than`` seconds old, oldest first (a queryset)."""
    from .models import OutboxMessage

    cutoff = timezone.now() - timedelta(seconds=older_than)
    return (
        OutboxMessage.objects.using(_db(using))
        .filter(created_at__lte=cutoff)
        .order_by("created_at", "id")
    )


def republish(
    *,
    grace: float | None = None,
    older_than: float | None = None,
    limit: int = 1000,
    dry_run: bool = False,
    using: str | None = None,
) -> RepublishReport:
    """Hand the outbox over again, and, with the database ledger, enqueue idle keys again.

    1. Every outbox row at least ``grace`` seconds old (default :data:`DEFAULT_GRACE`) is
       handed to the queue engine and removed; at the first refusal it stops (the queue is
       down) and the rest wait for the next run.
    2. With ``BACKGROUND["LEDGER"]`` ``"database"``, keys still ``queued`` or ``retry_wait``
       after ``older_than`` seconds (default :data:`DEFAULT_IDLE`) are enqueued again: their
       task may be lost (a backend that drops a killed worker's task). With ``"redis"``,
       keys handed to the queue ``older_than`` seconds ago that no worker claimed are
       (see :func:`twofactor_notify.background.requeue.requeue_unclaimed`).

    Always safe, at any time and twice at once: the ledger lets a key through once.
    ``dry_run`` changes nothing and counts what would go (as ``handed_over``/``requeued``).
    """
    from .background import get_options
    from .models import OutboxMessage, QueuedMessage

    options = get_options()
    grace = DEFAULT_GRACE if grace is None else grace
    older_than = DEFAULT_IDLE if older_than is None else older_than
    handed = refused = unreadable = 0
    published: list[str] = []
    for row in list(waiting(grace, using=using)[:limit]):
        try:
            envelope = Envelope.from_dict(row.envelope)
        except EnvelopeError:
            unreadable += 1
            continue
        if dry_run:
            handed += 1
            published.append(envelope.key)
            continue
        if publish(envelope, options, kept=True, using=using):
            handed += 1
            published.append(envelope.key)
        else:
            refused += 1
            break
    requeued = 0
    again: list[str] = []
    if options.ledger == "database" and not refused:
        from .ledger import DatabaseLedger

        for envelope in DatabaseLedger(using=using).queued(older_than, limit):
            if envelope.key in published:
                continue
            requeued += 1
            again.append(envelope.key)
            if dry_run:
                continue
            QueuedMessage.objects.using(_db(using)).filter(key=envelope.key).update(
                updated_at=timezone.now()
            )
            try:
                _hand_over(envelope, options)
            except QueueUnavailableError as exc:
                logger.error("idle key %s not enqueued again (%s)", envelope.key, exc.reason)
                requeued -= 1
                again.pop()
                refused += 1
                break
    lost = 0
    if options.ledger == "redis" and not refused:
        from twofactor_notify.background.requeue import requeue_unclaimed

        from .background import get_redis_ledger

        ledger = get_redis_ledger()
        if ledger is not None:
            report = requeue_unclaimed(
                ledger,
                lambda envelope: _hand_over(envelope, options),
                grace=older_than,
                limit=limit,
                dry_run=dry_run,
            )
            requeued += len(report.requeued)
            again.extend(report.requeued)
            refused += report.refused
            lost = len(report.lost)
    left = OutboxMessage.objects.using(_db(using)).count()
    return RepublishReport(
        handed_over=handed,
        refused=refused,
        waiting=left if not dry_run else left - handed,
        unreadable=unreadable,
        requeued=requeued,
        lost=lost,
        keys=(*published, *again),
    )
