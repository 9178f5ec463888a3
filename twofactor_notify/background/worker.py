"""The worker side, composed: ledger claim -> account throttle -> transport -> outcome.

:func:`send_enveloped` is what every queue engine's task calls (Celery's here, Django's task
framework in the Django app). It never raises for a failed send: it returns a
:class:`SendOutcome` that says what happened and whether the engine should run it again.
:class:`BackgroundSender` bundles the pieces a worker holds for its lifetime, and also runs the
checks on the enqueueing side, so a caller hears about a bad number before anything is queued.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from twofactor_notify.redaction import library_logger

from ..errors import RateLimitedError
from ..models import BulkResult, Message, OTPSent, Receipt, SMSSent
from ..transport import Transport
from .envelope import Envelope, EnvelopeError, unreadable_key
from .ledger import LedgerRecord, LedgerState, SendLedger
from .retry import FailureKind, RetryPolicy, classify_failure, describe_failure
from .throttle import AccountThrottle, NoThrottle

__all__ = [
    "DEFAULT_LEASE",
    "BackgroundSender",
    "SendOutcome",
    "SendStatus",
    "check_message",
    "provider_ids",
    "refuse_unreadable",
    "send_enveloped",
]

logger = library_logger("twofactor_notify.background")

#: Seconds a claim is held before a redelivery may call its worker dead. Keep it above the
#: transport's timeout plus the longest throttle wait.
DEFAULT_LEASE = 120.0


class SendStatus(enum.StrEnum):
    """What :func:`send_enveloped` did."""

    #: 2Factor accepted it in this call
    SENT = "sent"
    #: refused or given up, never sent; final
    FAILED = "failed"
    #: it may or may not have reached 2Factor; final, left to a human
    UNKNOWN = "unknown"
    #: not sent (proven); run the same envelope again after ``retry_after`` seconds
    RETRY = "retry"
    #: another worker holds the key right now; run again after ``retry_after`` to learn more
    IN_PROGRESS = "in_progress"
    #: the key was already final when this call came (``record.state`` says how); nothing sent
    DUPLICATE = "duplicate"

    @property
    def again(self) -> bool:
        """True when the engine should run the envelope again later."""
        return self in (SendStatus.RETRY, SendStatus.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The result of one :func:`send_enveloped` call."""

    status: SendStatus
    record: LedgerRecord | None
    receipt: Receipt | None = field(default=None)
    retry_after: float = 0.0


def provider_ids(receipt: Receipt) -> tuple[str, ...]:
    """2Factor's ids in a receipt: the OTP session id, the message id, or the bulk ids."""
    if isinstance(receipt, OTPSent):
        return (receipt.session_id,)
    if isinstance(receipt, SMSSent):
        return (receipt.message_id,)
    if isinstance(receipt, BulkResult):
        return tuple(a.message_id for a in receipt.accepted)
    return ()  # pragma: no cover - every receipt type is above


def check_message(transport: Transport, message: Message) -> Message:
    """Run the transport's pre-send checks and normalisation; return the message to queue.

    Raises the same :class:`~twofactor_notify.errors.InvalidInputError` subclasses a
    synchronous send would, before anything is queued.
    """
    return transport.check(message)  # the one check layer every transport runs


def refuse_unreadable(ledger: SendLedger, payload: object, error: EnvelopeError) -> LedgerRecord:
    """What every task does with an envelope it cannot read: log it at ERROR and record it
    ``UNREADABLE`` in the ledger, under its key (or a hash of the body,
    :func:`~twofactor_notify.background.envelope.unreadable_key`). Nothing is sent; running
    the same body again cannot make it readable (a newer version wrote it: upgrade the
    workers before the web processes)."""
    key = unreadable_key(payload)
    text = f"EnvelopeError: {error.message} (field {error.field})"[:500]
    logger.error("queued message %s refused: %s", key, text)
    return ledger.record_unreadable(key, error=text)


def send_enveloped(
    transport: Transport,
    envelope: Envelope,
    ledger: SendLedger,
    throttle: AccountThrottle | None = None,
    *,
    policy: RetryPolicy | None = None,
    lease: float = DEFAULT_LEASE,
) -> SendOutcome:
    """Send one queued message at most once, however often the engine delivers its task.

    1. A key already final in the ledger is not sent again (``DUPLICATE``).
    2. Wait for the account throttle's slot.
    3. Claim the key; if another worker holds it, ``IN_PROGRESS``; if its holder died
       mid-send, the key becomes ``UNKNOWN`` and nothing is sent (``DUPLICATE``, with the
       record showing ``UNKNOWN``).
    4. ``transport.send`` (its checks run again here, then the hooks, then the wire).
    5. Record the outcome: ``SENT`` with the provider ids; a failure by
       :func:`~twofactor_notify.background.retry.classify_failure`: ``FAILED``, ``UNKNOWN``,
       or ``RETRY`` after a backoff (``FAILED`` once ``policy.max_attempts`` is reached).

    An exception escapes only if the ledger itself fails; the claim then stays ``SENDING``
    and a redelivery (or :meth:`SendLedger.unknown`) records it as unknown once the lease ends.
    """
    policy = policy or RetryPolicy()
    throttle = throttle or NoThrottle()
    existing = ledger.get(envelope.key)
    if existing is not None and existing.state.final:
        return SendOutcome(SendStatus.DUPLICATE, existing)
    try:
        throttle.wait()
    except RateLimitedError as exc:  # the throttle's max_wait: nothing claimed, nothing sent
        return SendOutcome(SendStatus.RETRY, existing, retry_after=policy.delay(1, exc))
    token = uuid.uuid4().hex
    claim = ledger.claim(envelope, token=token, lease=lease)
    if not claim.granted:
        if claim.record.state is LedgerState.SENDING:
            return SendOutcome(SendStatus.IN_PROGRESS, claim.record, retry_after=claim.wait)
        if claim.record.state is LedgerState.UNKNOWN:
            logger.warning(
                "queued message %s: outcome unknown (its worker stopped mid-send); not sent again",
                envelope.key,
            )
        return SendOutcome(SendStatus.DUPLICATE, claim.record)
    try:
        receipt = transport.send(envelope.message)
    except Exception as exc:
        kind = classify_failure(exc)
        text = describe_failure(exc)
        if kind is FailureKind.UNKNOWN:
            record = ledger.record_unknown(envelope.key, token=token, error=text)
            logger.warning(
                "queued message %s: outcome unknown after %s; not sent again",
                envelope.key,
                type(exc).__name__,
            )
            return SendOutcome(SendStatus.UNKNOWN, record)
        if kind is FailureKind.FAILED:
            record = ledger.record_failed(envelope.key, token=token, error=text)
            return SendOutcome(SendStatus.FAILED, record)
        record = ledger.release(
            envelope.key, token=token, error=text, max_attempts=policy.max_attempts
        )
        if record.state is LedgerState.FAILED:
            return SendOutcome(SendStatus.FAILED, record)
        return SendOutcome(SendStatus.RETRY, record, retry_after=policy.delay(record.attempts, exc))
    ids = provider_ids(receipt)
    if isinstance(receipt, BulkResult) and not ids:
        # Every message of the batch was refused before a request was made.
        reasons = "; ".join(sorted({r.reason for r in receipt.rejected}))[:400]
        record = ledger.record_failed(
            envelope.key, token=token, error=f"every message was rejected: {reasons}"
        )
        return SendOutcome(SendStatus.FAILED, record, receipt=receipt)
    record = ledger.record_sent(envelope.key, token=token, provider_ids=ids)
    return SendOutcome(SendStatus.SENT, record, receipt=receipt)


class BackgroundSender:
    """What a worker holds: a transport, the shared ledger, the account throttle, the policy.

    The same object serves the enqueueing side (:meth:`envelope`: checks, then wraps) and the
    worker side (:meth:`send`).

    >>> sender = BackgroundSender(transport, RedisLedger(r), RedisThrottle(r, rate=200))
    >>> envelope = sender.envelope(SMSMessage(to="9876543210", text="Shipped", sender="MYBRND"))
    >>> sender.send(envelope).status   # in the worker
    """

    def __init__(
        self,
        transport: Transport,
        ledger: SendLedger,
        throttle: AccountThrottle | None = None,
        *,
        policy: RetryPolicy | None = None,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.transport = transport
        self.ledger = ledger
        self.throttle: AccountThrottle = throttle or NoThrottle()
        self.policy = policy or RetryPolicy()
        self.lease = lease

    def __repr__(self) -> str:
        return (
            f"BackgroundSender(transport={self.transport!r}, ledger={self.ledger!r}, "
            f"throttle={self.throttle!r})"
        )

    def envelope(self, message: Message, *, key: str | None = None) -> Envelope:
        """Check ``message`` as a send would and wrap it with ``key`` (or a new one)."""
        return Envelope.wrap(check_message(self.transport, message), key=key)

    def send(self, envelope: Envelope) -> SendOutcome:
        """:func:`send_enveloped` with this sender's parts."""
        return send_enveloped(
            self.transport,
            envelope,
            self.ledger,
            self.throttle,
            policy=self.policy,
            lease=self.lease,
        )
