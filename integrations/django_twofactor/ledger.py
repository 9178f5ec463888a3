"""The send ledger in the project's own database, and the message log that follows it.

:class:`DatabaseLedger` implements :class:`twofactor_notify.background.SendLedger` on the
:class:`~django_twofactor.models.QueuedMessage` table: one row per idempotency key, claimed
with ``INSERT ... ON CONFLICT DO NOTHING`` followed by ``SELECT ... FOR UPDATE`` in one
transaction, so that of any number of workers on PostgreSQL exactly one holds a key at a
time. A project without Redis gets at-most-once sending from its database alone.

Every change of a key's state moves the message log rows of that key
(:class:`~django_twofactor.models.OutgoingMessage` with ``queue_key``) in the same
transaction: ``task_queued`` -> ``sending`` -> ``queued`` (accepted by 2Factor, with its id) /
``error`` (never sent) / ``unknown`` (it may have gone). :meth:`DatabaseLedger.queue` writes the
row and the log rows when a message is queued, inside the caller's transaction.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from twofactor_notify.background import (
    ClaimResult,
    Envelope,
    LedgerRecord,
    LedgerState,
    SendLedger,
)
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.models import OTPMessage

from .locking import write_transaction

if TYPE_CHECKING:
    from .models import QueuedMessage

__all__ = [
    "DatabaseLedger",
    "MessageLogLedger",
    "current_queue_key",
    "move_log",
    "queue_log_rows",
    "sending_queued",
]

ABANDONED = "the worker sending it stopped before recording an outcome"

#: The idempotency key of the queued message a worker is sending right now (in this
#: context), so that the message log plugin updates that message's rows instead of adding.
current_queue_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "django_twofactor_queue_key", default=None
)


@contextmanager
def sending_queued(key: str) -> Iterator[None]:
    """Mark the sends made inside the block as those of the queued message ``key``."""
    marker = current_queue_key.set(key)
    try:
        yield
    finally:
        current_queue_key.reset(marker)


def _log_status(state: str) -> str:
    """The message log status of a ledger state (before 2Factor's report arrives)."""
    from .models import MessageStatus

    return {
        "queued": MessageStatus.TASK_QUEUED,
        "retry_wait": MessageStatus.TASK_QUEUED,
        "sending": MessageStatus.SENDING,
        "sent": MessageStatus.QUEUED,
        "failed": MessageStatus.ERROR,
        "unknown": MessageStatus.UNKNOWN,
        "unreadable": MessageStatus.TASK_QUEUED,  # never sent; a readable delivery may go
    }[state]


#: The log rows' ``error`` while a worker could not read their message's envelope.
UNREADABLE = "unreadable envelope"


def resolved_as(state: str) -> str:
    """The log rows' ``error`` once a human resolved the key (replacing the worker's error;
    the ledger's ``note`` says who and why). 2Factor's id stays unknown: none was seen."""
    return f"resolved as {state}"


def move_log(using: str, key: str, state: str, *, frm: Iterable[str], **extra: Any) -> int:
    """Move the message log rows of ``key`` whose status is one of ``frm`` to the status of
    the ledger state ``state``; how many moved."""
    from .models import OutgoingMessage

    return int(
        OutgoingMessage.objects.using(using)
        .filter(queue_key=key, status__in=list(frm))
        .update(status=_log_status(state), updated_at=timezone.now(), **extra)
    )


def queue_log_rows(envelope: Envelope, *, using: str | None = None) -> None:
    """Write the message log rows of a message being queued (``task_queued``, one per
    recipient, with its key), unless the key has rows already.

    The rows are inserted first, in a savepoint: the unique ``(queue_key, queue_seq)`` makes a
    concurrent transaction's insert under the same key wait for this one and then fail, and
    the loser compares the winner's rows with its own (the same message: nothing to add; a
    different one: :class:`InvalidInputError`). Writing before reading also takes SQLite's
    write lock first, so the other transaction waits instead of failing with "locked".
    """
    from .conf import get_settings
    from .models import MessageStatus, OutgoingMessage
    from .plugin import MessageLogPlugin, _fit

    manager = OutgoingMessage.objects.using(using or router.db_for_write(OutgoingMessage))
    rows = MessageLogPlugin().rows_for(envelope.message, None, None, region=get_settings().region)
    for seq, row in enumerate(rows):
        _fit(row)
        row.status = MessageStatus.TASK_QUEUED
        row.error = ""
        row.queue_key = envelope.key
        row.queue_seq = seq
    try:
        with transaction.atomic(using=manager.db):
            manager.bulk_create(rows)
        return
    except IntegrityError as exc:
        # the key has rows: this transaction's, or those of one that committed (waited for)
        conflict = exc
    existing = list(manager.filter(queue_key=envelope.key).order_by("queue_seq", "id"))
    if not existing:
        raise conflict  # not the key's constraint
    if [_describe(row) for row in existing] != [_describe(row) for row in rows]:
        raise _key_taken(envelope.key) from None


def _describe(row: Any) -> tuple[str, ...]:
    """What a log row says was sent: kind, number, sender, template, text."""
    return (row.kind, row.recipient, row.sender, row.template, row.text)


def _key_taken(key: str) -> InvalidInputError:
    return InvalidInputError(
        f"the key {key!r} was queued already with another message; a key names one message "
        "(queueing the same message twice under it is fine and sends it once)",
        field="key",
    )


class MessageLogLedger(SendLedger):
    """Any other ledger (Redis), with the message log moved after each change of a key, as
    :class:`DatabaseLedger` does in its own transactions. Delegates everything to ``inner``.
    """

    def __init__(self, inner: SendLedger, *, using: str | None = None) -> None:
        self.inner = inner
        self.using = using

    def __repr__(self) -> str:
        return f"MessageLogLedger({self.inner!r})"

    @property
    def _db(self) -> str:
        from .models import OutgoingMessage

        return self.using or router.db_for_write(OutgoingMessage)

    def _follow(self, record: LedgerRecord) -> LedgerRecord:
        """Move the key's log rows to where ``record`` says the key stands."""
        from .models import MessageStatus as S

        state = record.state.value
        extra: dict[str, Any] = {}
        if record.state is LedgerState.SENT:
            frm = [S.TASK_QUEUED, S.SENDING, S.UNKNOWN]
            extra["error"] = ""  # a late answer or a verdict replaces the worker's error
            if len(record.provider_ids) == 1:
                extra["provider_id"] = record.provider_ids[0][:256]
        elif record.state is LedgerState.SENDING:
            frm = [S.TASK_QUEUED]
        elif record.state is LedgerState.RETRY_WAIT:
            frm = [S.SENDING]
        elif record.state is LedgerState.UNREADABLE:
            frm = [S.TASK_QUEUED]
            extra["error"] = UNREADABLE
        else:  # FAILED, UNKNOWN
            frm = [S.TASK_QUEUED, S.SENDING] + ([S.UNKNOWN] if state == "failed" else [])
            extra["error"] = record.error.split(":")[0][:64]
        if record.note and record.state in (LedgerState.SENT, LedgerState.FAILED):
            extra["error"] = resolved_as(state)  # a human's verdict, not the last error
        move_log(self._db, record.key, state, frm=frm, **extra)
        return record

    def claim(self, envelope: Envelope, *, token: str, lease: float) -> ClaimResult:
        """See :meth:`SendLedger.claim`."""
        result = self.inner.claim(envelope, token=token, lease=lease)
        if result.granted or result.record.state is LedgerState.UNKNOWN:
            self._follow(result.record)
        return result

    def record_sent(self, key: str, *, token: str, provider_ids: Iterable[str]) -> LedgerRecord:
        """See :meth:`SendLedger.record_sent`."""
        return self._follow(self.inner.record_sent(key, token=token, provider_ids=provider_ids))

    def record_failed(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_failed`."""
        return self._follow(self.inner.record_failed(key, token=token, error=error))

    def record_unknown(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unknown`."""
        return self._follow(self.inner.record_unknown(key, token=token, error=error))

    def release(self, key: str, *, token: str, error: str, max_attempts: int) -> LedgerRecord:
        """See :meth:`SendLedger.release`."""
        return self._follow(
            self.inner.release(key, token=token, error=error, max_attempts=max_attempts)
        )

    def record_unreadable(self, key: str, *, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unreadable`."""
        record = self.inner.record_unreadable(key, error=error)
        return self._follow(record) if record.state is LedgerState.UNREADABLE else record

    def unreadable(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unreadable`."""
        return self.inner.unreadable(limit)

    def get(self, key: str) -> LedgerRecord | None:
        """See :meth:`SendLedger.get`."""
        return self.inner.get(key)

    def unknown(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unknown`."""
        return [self._follow(record) for record in self.inner.unknown(limit)]

    def resolve(self, key: str, *, state: LedgerState, note: str = "") -> LedgerRecord:
        """See :meth:`SendLedger.resolve`."""
        return self._follow(self.inner.resolve(key, state=state, note=note))


class DatabaseLedger(SendLedger):
    """A :class:`~twofactor_notify.background.SendLedger` in the Django database.

    :param using: the database alias (default: the router's choice for the model).
    :param clock: POSIX seconds, for leases (default :func:`time.time`).
    """

    def __init__(self, *, using: str | None = None, clock: Any = time.time) -> None:
        self.using = using
        self._clock = clock

    def __repr__(self) -> str:
        return f"DatabaseLedger(using={self._db!r})"

    @property
    def _db(self) -> str:
        from .models import QueuedMessage

        return self.using or router.db_for_write(QueuedMessage)

    def _rows(self) -> Any:
        from .models import QueuedMessage

        return QueuedMessage.objects.using(self._db)

    def _transaction(self) -> AbstractContextManager[None]:
        """A transaction that reads the key's row and writes it: on SQLite it holds the
        write lock from the start, so a concurrent writer is waited for."""
        from .models import QueuedMessage

        return write_transaction(QueuedMessage, self._db)

    @staticmethod
    def _record(row: QueuedMessage) -> LedgerRecord:
        return LedgerRecord(
            key=row.key,
            state=LedgerState(row.state),
            kind=row.kind,
            recipients=tuple(row.recipients),
            attempts=row.attempts,
            provider_ids=tuple(row.provider_ids),
            error=row.error,
            token=row.token,
            lease_until=row.lease_until,
            updated_at=row.updated_at,
            note=row.note,
        )

    def _move_log(self, key: str, state: str, *, frm: Iterable[str], **extra: Any) -> None:
        """Move the log rows of ``key`` that are in one of ``frm`` to ``state``'s status."""
        move_log(self._db, key, state, frm=frm, **extra)

    # -- queueing ---------------------------------------------------------------------------

    def queue(self, envelope: Envelope, *, log: bool = True) -> None:
        """Write ``envelope``'s row (state ``queued``) and, with ``log``, its message log rows
        (``task_queued``), in the current transaction: a rollback removes both.

        The envelope is kept (for a deliberate "send again" of an unknown outcome) except for
        an OTP message, whose code must not be stored.
        """
        message = envelope.message
        with self._transaction():
            # insert first: a concurrent transaction queueing the same key waits for this
            # one (PostgreSQL's unique index, SQLite's write lock), then fails and compares
            try:
                with self._transaction():
                    self._rows().create(
                        key=envelope.key,
                        kind=envelope.kind,
                        recipients=list(message.recipients),
                        envelope={} if isinstance(message, OTPMessage) else envelope.to_dict(),
                        updated_at=timezone.now(),
                    )
            except IntegrityError:
                row = self._rows().filter(key=envelope.key).first()
                if row is None:
                    raise  # not the key's constraint
                if (
                    list(row.recipients) != list(message.recipients)
                    or row.kind != envelope.kind
                    or (
                        row.envelope
                        and row.envelope.get("message") != envelope.to_dict()["message"]
                    )
                ):
                    raise _key_taken(envelope.key) from None
            if log:
                queue_log_rows(envelope, using=self._db)

    def queued(self, older_than: float = 0.0, limit: int = 1000) -> list[Envelope]:
        """Envelopes still waiting (``queued``, ``retry_wait``, or ``unreadable``: a worker of
        an older version could not read it) whose row has not changed for ``older_than``
        seconds: what a lost task left behind, to enqueue again. Enqueueing one twice is
        safe; the ledger sends a key once. An envelope this process cannot read is left."""
        from twofactor_notify.background import EnvelopeError

        from .models import QueuedState

        cutoff = timezone.now() - timedelta(seconds=older_than)
        waiting = [QueuedState.QUEUED, QueuedState.RETRY_WAIT, QueuedState.UNREADABLE]
        rows = (
            self._rows()
            .filter(state__in=waiting, updated_at__lte=cutoff)
            .exclude(envelope={})
            .order_by("updated_at")[:limit]
        )
        found = []
        for row in rows:
            try:
                found.append(Envelope.from_dict(row.envelope))
            except EnvelopeError:
                continue  # written by a newer version: that version's processes hand it over
        return found

    # -- SendLedger -------------------------------------------------------------------------

    def claim(self, envelope: Envelope, *, token: str, lease: float) -> ClaimResult:
        """See :meth:`SendLedger.claim`: one row per key, locked while it is decided."""
        from .models import MessageStatus, QueuedMessage, QueuedState

        now = self._clock()
        with self._transaction():
            # the row may not exist yet (queued by another engine, or its insert rolled
            # back); ON CONFLICT DO NOTHING leaves a concurrent insert's row alone
            self._rows().bulk_create(
                [
                    QueuedMessage(
                        key=envelope.key,
                        kind=envelope.kind,
                        recipients=list(envelope.message.recipients),
                        updated_at=timezone.now(),
                    )
                ],
                ignore_conflicts=True,
            )
            row = self._rows().select_for_update().get(key=envelope.key)
            if row.state in (QueuedState.QUEUED, QueuedState.RETRY_WAIT, QueuedState.UNREADABLE):
                row.state = QueuedState.SENDING
                row.attempts += 1
                row.token = token
                row.lease_until = now + lease
                row.updated_at = timezone.now()
                row.save(update_fields=["state", "attempts", "token", "lease_until", "updated_at"])
                self._move_log(envelope.key, "sending", frm=[MessageStatus.TASK_QUEUED])
                return ClaimResult(True, self._record(row))
            if row.state == QueuedState.SENDING:
                if row.lease_until > now:
                    return ClaimResult(False, self._record(row), wait=row.lease_until - now)
                self._abandon(row)
            return ClaimResult(False, self._record(row))

    def _abandon(self, row: QueuedMessage) -> None:
        from .models import MessageStatus, QueuedState

        row.state = QueuedState.UNKNOWN
        row.error = ABANDONED
        row.updated_at = timezone.now()
        row.save(update_fields=["state", "error", "updated_at"])
        self._move_log(row.key, "unknown", frm=[MessageStatus.SENDING], error="worker stopped")

    def _locked(self, key: str) -> QueuedMessage:
        row = self._rows().select_for_update().filter(key=key).first()
        if row is None:
            raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
        return row  # type: ignore[no-any-return]

    def _finish(self, key: str, token: str, state: str, **changes: Any) -> LedgerRecord:
        from .models import MessageStatus, QueuedState

        with self._transaction():
            row = self._locked(key)
            allowed = (QueuedState.SENDING, QueuedState.UNKNOWN)
            if row.token != token or row.state not in allowed or row.note:
                return self._record(row)  # claim lost, already final, or a human decided
            row.state = state
            row.updated_at = timezone.now()
            for name, value in changes.items():
                setattr(row, name, value)
            if state in (QueuedState.SENT, QueuedState.FAILED):
                row.envelope = {}  # nothing left to send again; keep no message text
            row.save()
            log_extra: dict[str, Any] = {}
            if state == QueuedState.SENT and len(row.provider_ids) == 1:
                log_extra["provider_id"] = row.provider_ids[0][:256]
            if state != QueuedState.SENT:
                log_extra["error"] = str(changes.get("error", ""))[:64]
            self._move_log(
                key, state, frm=[MessageStatus.SENDING, MessageStatus.UNKNOWN], **log_extra
            )
            return self._record(row)

    def record_sent(self, key: str, *, token: str, provider_ids: Iterable[str]) -> LedgerRecord:
        """See :meth:`SendLedger.record_sent`."""
        from .models import QueuedState

        return self._finish(key, token, QueuedState.SENT, provider_ids=list(provider_ids), error="")

    def record_failed(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_failed`."""
        from .models import QueuedState

        return self._finish(key, token, QueuedState.FAILED, error=error[:500])

    def record_unknown(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unknown`."""
        from .models import QueuedState

        row = self._rows().filter(key=key).first()
        if row is not None and row.state == QueuedState.UNKNOWN:
            return self._record(row)
        return self._finish(key, token, QueuedState.UNKNOWN, error=error[:500])

    def release(self, key: str, *, token: str, error: str, max_attempts: int) -> LedgerRecord:
        """See :meth:`SendLedger.release`."""
        from .models import MessageStatus, QueuedState

        with self._transaction():
            row = self._locked(key)
            if row.token != token or row.state != QueuedState.SENDING:
                return self._record(row)
            final = row.attempts >= max_attempts
            row.state = QueuedState.FAILED if final else QueuedState.RETRY_WAIT
            row.error = error[:500]
            row.token = ""
            row.updated_at = timezone.now()
            if final:
                row.envelope = {}
            row.save()
            self._move_log(
                key, row.state, frm=[MessageStatus.SENDING], error=error.split(":")[0][:64]
            )
            return self._record(row)

    def record_unreadable(self, key: str, *, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unreadable`: a key ``queued`` here (never claimed)
        becomes ``unreadable`` too, keeping its envelope, so that :meth:`queued` hands it over
        again once the workers can read it. Its log rows stay ``task_queued`` with the error
        "unreadable envelope"."""
        from .models import MessageStatus, QueuedMessage, QueuedState

        with self._transaction():
            self._rows().bulk_create(
                [
                    QueuedMessage(
                        key=key,
                        state=QueuedState.UNREADABLE,
                        error=error[:500],
                        updated_at=timezone.now(),
                    )
                ],
                ignore_conflicts=True,
            )
            row = self._locked(key)
            if row.state in (QueuedState.QUEUED, QueuedState.UNREADABLE):
                row.state = QueuedState.UNREADABLE
                row.error = error[:500]
                row.updated_at = timezone.now()
                row.save(update_fields=["state", "error", "updated_at"])
                self._move_log(key, "unreadable", frm=[MessageStatus.TASK_QUEUED], error=UNREADABLE)
            return self._record(row)

    def unreadable(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unreadable`."""
        from .models import QueuedState

        rows = self._rows().filter(state=QueuedState.UNREADABLE).order_by("updated_at", "id")
        return [self._record(row) for row in rows[:limit]]

    def get(self, key: str) -> LedgerRecord | None:
        """See :meth:`SendLedger.get` (a key queued but never claimed has no record yet)."""
        from .models import QueuedState

        row = self._rows().filter(key=key).exclude(state=QueuedState.QUEUED).first()
        return None if row is None else self._record(row)

    def sweep(self) -> int:
        """Record every ``sending`` key whose lease ran out as unknown (its worker died);
        return how many. :meth:`unknown` does this first."""
        from .models import QueuedState

        now = self._clock()
        with self._transaction():
            rows = list(
                self._rows()
                .select_for_update(skip_locked=True)
                .filter(state=QueuedState.SENDING, lease_until__lte=now)
            )
            for row in rows:
                self._abandon(row)
        return len(rows)

    def unknown(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unknown`."""
        from .models import QueuedState

        self.sweep()
        rows = self._rows().filter(state=QueuedState.UNKNOWN).order_by("updated_at", "id")
        return [self._record(row) for row in rows[:limit]]

    def resolve(self, key: str, *, state: LedgerState, note: str = "") -> LedgerRecord:
        """See :meth:`SendLedger.resolve`."""
        from twofactor_notify.background.ledger import check_resolution, resolvable

        from .models import MessageStatus

        check_resolution(state)
        with self._transaction():
            row = self._rows().select_for_update().filter(key=key).first()
            current = next((s for s in LedgerState if s.value == getattr(row, "state", "")), None)
            if row is None or current is None or not resolvable(current, state):
                raise InvalidInputError(
                    f"key {key!r} has no unknown outcome to resolve", field="key"
                )
            was_unreadable = current is LedgerState.UNREADABLE
            if was_unreadable:
                row.envelope = {}  # dropped for good: nothing to hand over again
            row.state = str(state)
            row.note = (note or "resolved")[:500]
            row.token = ""
            row.updated_at = timezone.now()
            row.save()
            frm = [MessageStatus.TASK_QUEUED] if was_unreadable else [MessageStatus.UNKNOWN]
            self._move_log(key, str(state), frm=frm, error=resolved_as(str(state)))
            return self._record(row)

    def send_again(self, key: str, *, by: str, note: str = "") -> Envelope:
        """A human's decision to send an unknown outcome again: resolve ``key`` as failed
        (recording who and when), queue the same message under a NEW key, and return its
        envelope for the caller to enqueue after commit. Refused (:class:`InvalidInputError`)
        for a key that is not unknown or whose message was not kept (an OTP)."""
        from .models import QueuedState

        with self._transaction():
            row = self._rows().select_for_update().filter(key=key).first()
            if row is None or row.state != QueuedState.UNKNOWN:
                raise InvalidInputError(
                    f"key {key!r} has no unknown outcome to send again", field="key"
                )
            if not row.envelope:
                raise InvalidInputError(
                    f"the message of key {key!r} was not kept (an OTP); send a new one",
                    field="key",
                )
            from .models import OutgoingMessage

            old = Envelope.from_dict(row.envelope)
            new = Envelope.wrap(old.message)
            when: datetime = timezone.now()
            # the ledger's "failed" means no machine will touch the key again; the log rows
            # stay "unknown" (nobody knows whether it went) and say where it went next
            row.state = QueuedState.FAILED
            row.note = (note or f"sent again as {new.key} by {by}")[:500]
            row.token = ""
            row.envelope = {}
            row.resent_as, row.resent_by, row.resent_at = new.key, by[:150], when
            row.updated_at = when
            row.save()
            OutgoingMessage.objects.using(self._db).filter(queue_key=key).update(error="sent again")
            self.queue(new)
            return new
