"""Queue again what the broker lost before any worker took it (the Redis ledger).

Every adapter notes an envelope in the Redis ledger
(:meth:`~twofactor_notify.background.redis_ledger.RedisLedger.note_queued`) before handing it
to the broker, and a worker's claim removes the note. A note older than ``grace`` seconds is a
message no worker has taken: :func:`requeue_unclaimed` hands its envelope to the queue again.
Queueing a key twice is safe: the ledger lets it through once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import QueueUnavailableError, TwoFactorError
from ..redaction import library_logger
from .envelope import Envelope
from .redis_ledger import RedisLedger

__all__ = ["DEFAULT_GRACE", "RequeueReport", "call_ledger", "requeue_unclaimed"]

logger = library_logger("twofactor_notify.background")

_T = TypeVar("_T")


def call_ledger(call: Callable[[], _T], envelope: Envelope) -> _T:
    """``call()``, a call to the ledger while ``envelope`` is being queued (its key marked or
    noted). The ledger not answering (Redis down) is :class:`QueueUnavailableError` naming
    the key: no worker could send the message either. Only the failure's class travels; the
    library's own errors pass as they are."""
    try:
        return call()
    except TwoFactorError:
        raise
    except Exception as exc:
        failure = type(exc).__name__
    # raised outside the except block: the client's error (it may name the server) is not
    # chained
    raise QueueUnavailableError(
        f"queued message {envelope.key} was not queued: the ledger did not answer ({failure})",
        reason=failure,
    )


#: Seconds a noted key may wait for a worker before it is queued again: well above the
#: time a message normally waits in the queue (a busy queue only gets duplicates, which the
#: ledger does not send).
DEFAULT_GRACE = 300.0


@dataclass(frozen=True, slots=True)
class RequeueReport:
    """What :func:`requeue_unclaimed` did.

    :param requeued: keys handed to the queue again.
    :param lost: keys that cannot be sent again (an OTP with its own code, an envelope
        this process cannot read), now recorded ``failed`` or ``unreadable`` in the ledger.
    :param refused: 1 when the queue refused a hand-over (it stops there; the key and the
        rest wait ``grace`` seconds more for the next run), else 0.
    """

    requeued: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    refused: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The report as a task's JSON result."""
        return {"requeued": list(self.requeued), "lost": list(self.lost), "refused": self.refused}


def requeue_unclaimed(
    ledger: RedisLedger,
    hand_over: Callable[[Envelope], object],
    *,
    grace: float | None = None,
    limit: int = 1000,
    dry_run: bool = False,
) -> RequeueReport:
    """Hand every key noted at least ``grace`` seconds ago (default :data:`DEFAULT_GRACE`)
    and never claimed to ``hand_over`` (which queues one envelope, raising when the queue
    does not take it), oldest first, at most ``limit``.

    The ledger notes each key again before it is handed over, so a crash in between leaves
    it for the next run. At the first refusal it stops. ``dry_run`` changes nothing and
    reports what would be queued again.
    """
    grace = DEFAULT_GRACE if grace is None else float(grace)
    requeued: list[str] = []
    lost: list[str] = []
    for item in ledger.unclaimed(grace, limit, dry_run=dry_run):
        if item.envelope is None:
            if not dry_run:
                logger.error("queued message %s was lost by the queue: %s", item.key, item.error)
            lost.append(item.key)
            continue
        if not dry_run:
            try:
                hand_over(item.envelope)
            except Exception as exc:
                logger.error(
                    "queued message %s not queued again (%s); it waits for the next run",
                    item.key,
                    type(exc).__name__,
                )
                return RequeueReport(tuple(requeued), tuple(lost), refused=1)
            logger.warning("queued message %s was not taken by any worker: queued again", item.key)
        requeued.append(item.key)
    return RequeueReport(tuple(requeued), tuple(lost))
