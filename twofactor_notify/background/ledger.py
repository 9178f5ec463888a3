"""The send ledger: the one place that decides whether a queued message may go to 2Factor.

Every worker shares one ledger (Redis here; the Django app adds one in its own database). For
each idempotency key it holds a :class:`LedgerRecord` whose ``state`` moves like this::

    (no record) --claim--> SENDING --record_sent------> SENT      (provider ids kept)
                              |     --record_failed----> FAILED    (2Factor never got it)
                              |     --record_unknown---> UNKNOWN   (it may have got it)
                              |     --release----------> RETRY_WAIT --claim--> SENDING ...
                              '-- lease ran out, found by a redelivery --> UNKNOWN
    (no record) --record_unreadable--> UNREADABLE --claim (a readable delivery)--> SENDING ...

Only the worker holding a key's claim (its ``token``) may send it. A key in ``SENDING`` whose
lease ran out means a worker died mid-send: whoever finds it records ``UNKNOWN`` and sends
nothing. ``UNKNOWN`` is final for the machines and waits for a human (:meth:`SendLedger.resolve`);
a late answer from the worker that held the claim still turns it into ``SENT`` or ``FAILED``.
``RETRY_WAIT`` is entered only after a failure proven not to have reached 2Factor, so another
claim is safe. ``UNREADABLE`` records a delivery whose envelope a worker could not read (a
newer envelope version, a bad field, not JSON): nothing was sent, so a readable delivery of
the same key may still claim it.
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..errors import InvalidInputError
from .envelope import Envelope

__all__ = [
    "ClaimResult",
    "InMemoryLedger",
    "LedgerRecord",
    "LedgerState",
    "SendLedger",
]


class LedgerState(enum.StrEnum):
    """Where a key stands. ``SENT``, ``FAILED`` and ``UNKNOWN`` are final for the machines."""

    SENDING = "sending"
    RETRY_WAIT = "retry_wait"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    #: a worker could not read the envelope; never sent (a readable delivery may claim it)
    UNREADABLE = "unreadable"

    @property
    def final(self) -> bool:
        """True when no worker will touch the key again (only a human, for ``UNKNOWN``)."""
        return self in (LedgerState.SENT, LedgerState.FAILED, LedgerState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """What the ledger knows about one key.

    :param key: the envelope's idempotency key.
    :param state: see :class:`LedgerState`.
    :param kind: the message kind (``otp``, ``sms``, ``bulk``).
    :param recipients: the message's numbers (E.164), so a human can look an unknown up.
    :param attempts: how many claims were granted (sends tried).
    :param provider_ids: 2Factor's ids once sent (session id, message id, bulk message ids).
    :param error: the last error's class and secret-free text, when there was one.
    :param token: the claim holder's token (empty when none).
    :param lease_until: POSIX time at which a ``SENDING`` claim counts as abandoned.
    :param updated_at: when the record last changed (UTC).
    :param note: what a human wrote when resolving an unknown outcome.
    """

    key: str
    state: LedgerState
    kind: str = ""
    recipients: tuple[str, ...] = ()
    attempts: int = 0
    provider_ids: tuple[str, ...] = ()
    error: str = ""
    token: str = field(default="", repr=False)
    lease_until: float = 0.0
    updated_at: datetime | None = None
    note: str = ""

    @property
    def provider_id(self) -> str | None:
        """The first provider id (the only one, except for bulk batches)."""
        return self.provider_ids[0] if self.provider_ids else None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """The answer to :meth:`SendLedger.claim`.

    ``granted``: the caller holds the key and may send it now. Otherwise ``record`` says why
    not: another worker is ``SENDING`` it (``wait`` seconds are left on its lease), or the key
    is final (``SENT``, ``FAILED``, ``UNKNOWN`` — possibly just now, if this claim found an
    abandoned ``SENDING``).
    """

    granted: bool
    record: LedgerRecord
    wait: float = 0.0


class SendLedger(ABC):
    """Shared, atomic record of every queued send. Implementations: :class:`InMemoryLedger`
    (one process, tests), :class:`~twofactor_notify.background.redis_ledger.RedisLedger`.

    Every method that changes a record is atomic across processes. ``token`` is the claim
    holder's identity (a random string per attempt): outcomes recorded with another token
    are ignored, so a worker that lost its claim cannot overwrite what another found.
    """

    @abstractmethod
    def claim(self, envelope: Envelope, *, token: str, lease: float) -> ClaimResult:
        """Take the key for sending, if no one has it and it is not final.

        Granted for a new key and for one in ``RETRY_WAIT``; the record becomes ``SENDING``
        with ``token`` and a lease of ``lease`` seconds, and ``attempts`` grows by one. A key
        ``SENDING`` with its lease run out becomes ``UNKNOWN`` (not granted).
        """

    @abstractmethod
    def record_sent(self, key: str, *, token: str, provider_ids: Iterable[str]) -> LedgerRecord:
        """2Factor accepted the message: ``SENT`` with its ids (also from ``UNKNOWN``)."""

    @abstractmethod
    def record_failed(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """The message was refused or failed before reaching 2Factor: ``FAILED``, final."""

    @abstractmethod
    def record_unknown(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """The send may or may not have reached 2Factor: ``UNKNOWN``, left to a human."""

    @abstractmethod
    def release(self, key: str, *, token: str, error: str, max_attempts: int) -> LedgerRecord:
        """The attempt failed without reaching 2Factor: ``RETRY_WAIT`` so a later claim may
        send it, or ``FAILED`` once ``attempts`` has reached ``max_attempts``."""

    @abstractmethod
    def record_unreadable(self, key: str, *, error: str) -> LedgerRecord:
        """A worker could not read the envelope of ``key``: ``UNREADABLE`` when the key has
        no record yet (or is unreadable already: the error and the time are updated). A key
        with any other record keeps it: what was claimed stays as it was.

        ``key`` is the envelope's own key when it could be read, else
        :func:`~twofactor_notify.background.envelope.unreadable_key` of the raw body."""

    @abstractmethod
    def unreadable(self, limit: int = 100) -> list[LedgerRecord]:
        """Records in ``UNREADABLE``, oldest first: deliveries no worker could read."""

    @abstractmethod
    def get(self, key: str) -> LedgerRecord | None:
        """The record of ``key``, or ``None`` if it was never claimed (or has expired)."""

    @abstractmethod
    def unknown(self, limit: int = 100) -> list[LedgerRecord]:
        """Records in ``UNKNOWN``, oldest first: what needs a human."""

    @abstractmethod
    def resolve(self, key: str, *, state: LedgerState, note: str = "") -> LedgerRecord:
        """A human's verdict on an ``UNKNOWN`` key after checking 2Factor's delivery reports:
        ``SENT`` (it went) or ``FAILED`` (it did not; queue a new message with a new key to
        send it again). An ``UNREADABLE`` key may be resolved as ``FAILED``: it was never
        sent, and will not be (a message dropped for good). Refused, with
        :class:`InvalidInputError`, for other states."""


def resolvable(current: LedgerState, state: LedgerState) -> bool:
    """True when a key in ``current`` may be resolved as ``state``: an unknown outcome as
    sent or failed, an unreadable message as failed."""
    return current is LedgerState.UNKNOWN or (
        current is LedgerState.UNREADABLE and state is LedgerState.FAILED
    )


def check_resolution(state: LedgerState) -> None:
    """Refuse a resolution other than ``SENT`` or ``FAILED``."""
    if state not in (LedgerState.SENT, LedgerState.FAILED):
        raise InvalidInputError(
            "an unknown outcome is resolved as 'sent' or 'failed'", field="state"
        )


class InMemoryLedger(SendLedger):
    """A ledger in one process's memory: for tests and single-process use.

    Workers in other processes do not see it; use a shared ledger for real queues.
    ``clock`` returns POSIX seconds (default :func:`time.time`).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, LedgerRecord] = {}

    def __repr__(self) -> str:
        return f"InMemoryLedger({len(self._records)} keys)"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def claim(self, envelope: Envelope, *, token: str, lease: float) -> ClaimResult:
        """See :meth:`SendLedger.claim`."""
        now = self._clock()
        with self._lock:
            record = self._records.get(envelope.key)
            if record is None or record.state in (LedgerState.RETRY_WAIT, LedgerState.UNREADABLE):
                new = LedgerRecord(
                    key=envelope.key,
                    state=LedgerState.SENDING,
                    kind=envelope.kind,
                    recipients=envelope.message.recipients,
                    attempts=(record.attempts if record else 0) + 1,
                    error=record.error if record else "",
                    token=token,
                    lease_until=now + lease,
                    updated_at=self._now(),
                )
                self._records[envelope.key] = new
                return ClaimResult(True, new)
            if record.state is LedgerState.SENDING:
                if record.lease_until > now:
                    return ClaimResult(False, record, wait=record.lease_until - now)
                record = replace(
                    record,
                    state=LedgerState.UNKNOWN,
                    error="the worker sending it stopped before recording an outcome",
                    updated_at=self._now(),
                )
                self._records[envelope.key] = record
            return ClaimResult(False, record)

    def _finish(self, key: str, token: str, **changes: object) -> LedgerRecord:
        with self._lock:
            record = self._records.get(key)
            if record is None:
                raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
            allowed = (LedgerState.SENDING, LedgerState.UNKNOWN)
            if record.token != token or record.state not in allowed or record.note:
                return record  # claim lost, or already final, or a human has decided
            record = replace(record, updated_at=self._now(), **changes)  # type: ignore[arg-type]
            self._records[key] = record
            return record

    def record_sent(self, key: str, *, token: str, provider_ids: Iterable[str]) -> LedgerRecord:
        """See :meth:`SendLedger.record_sent`."""
        return self._finish(
            key, token, state=LedgerState.SENT, provider_ids=tuple(provider_ids), error=""
        )

    def record_failed(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_failed`."""
        return self._finish(key, token, state=LedgerState.FAILED, error=error)

    def record_unknown(self, key: str, *, token: str, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unknown`."""
        with self._lock:
            record = self._records.get(key)
        if record is not None and record.state is LedgerState.UNKNOWN:
            return record
        return self._finish(key, token, state=LedgerState.UNKNOWN, error=error)

    def release(self, key: str, *, token: str, error: str, max_attempts: int) -> LedgerRecord:
        """See :meth:`SendLedger.release`."""
        with self._lock:
            record = self._records.get(key)
            if record is None or record.token != token or record.state is not LedgerState.SENDING:
                if record is None:
                    raise InvalidInputError(f"no ledger record for key {key!r}", field="key")
                return record
            state = (
                LedgerState.FAILED if record.attempts >= max_attempts else LedgerState.RETRY_WAIT
            )
            record = replace(record, state=state, error=error, token="", updated_at=self._now())
            self._records[key] = record
            return record

    def record_unreadable(self, key: str, *, error: str) -> LedgerRecord:
        """See :meth:`SendLedger.record_unreadable`."""
        with self._lock:
            record = self._records.get(key)
            if record is None or record.state is LedgerState.UNREADABLE:
                record = LedgerRecord(
                    key=key, state=LedgerState.UNREADABLE, error=error, updated_at=self._now()
                )
                self._records[key] = record
            return record

    def unreadable(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unreadable`."""
        with self._lock:
            found = [r for r in self._records.values() if r.state is LedgerState.UNREADABLE]
        found.sort(key=lambda r: r.updated_at or datetime.min.replace(tzinfo=UTC))
        return found[:limit]

    def get(self, key: str) -> LedgerRecord | None:
        """See :meth:`SendLedger.get`."""
        with self._lock:
            return self._records.get(key)

    def unknown(self, limit: int = 100) -> list[LedgerRecord]:
        """See :meth:`SendLedger.unknown`."""
        now = self._clock()
        with self._lock:
            for key, record in list(self._records.items()):
                if record.state is LedgerState.SENDING and record.lease_until <= now:
                    self._records[key] = replace(
                        record,
                        state=LedgerState.UNKNOWN,
                        error="the worker sending it stopped before recording an outcome",
                        updated_at=self._now(),
                    )
            found = [r for r in self._records.values() if r.state is LedgerState.UNKNOWN]
        found.sort(key=lambda r: r.updated_at or datetime.min.replace(tzinfo=UTC))
        return found[:limit]

    def resolve(self, key: str, *, state: LedgerState, note: str = "") -> LedgerRecord:
        """See :meth:`SendLedger.resolve`."""
        check_resolution(state)
        with self._lock:
            record = self._records.get(key)
            if record is None or not resolvable(record.state, state):
                raise InvalidInputError(
                    f"key {key!r} has no unknown outcome to resolve", field="key"
                )
            record = replace(
                record, state=state, note=note or "resolved", token="", updated_at=self._now()
            )
            self._records[key] = record
            return record
