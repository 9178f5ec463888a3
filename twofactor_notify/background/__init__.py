"""Sending in the background: the queue-engine-independent core.

* :class:`Envelope` — a message serialised for a queue, with its idempotency key;
* :class:`SendLedger` — decides, across every worker, that a key is sent at most once
  (:class:`InMemoryLedger`, :class:`~twofactor_notify.background.redis_ledger.RedisLedger`);
* :class:`RedisThrottle` — one account-wide send rate shared by every worker;
* :class:`RetryPolicy` — retries only what provably never reached 2Factor;
* :func:`send_enveloped` / :class:`BackgroundSender` — what a worker's task calls.

No queue engine is imported here; the Celery task lives in
the ``celery_twofactor`` adapter (``integrations/``).
"""

from __future__ import annotations

from .envelope import (
    ENVELOPE_VERSION,
    Envelope,
    EnvelopeError,
    new_key,
    unreadable_key,
    validate_key,
)
from .ledger import ClaimResult, InMemoryLedger, LedgerRecord, LedgerState, SendLedger
from .retry import FailureKind, RetryPolicy, classify_failure, describe_failure
from .throttle import AccountThrottle, LocalThrottle, NoThrottle, RedisThrottle
from .worker import (
    DEFAULT_LEASE,
    BackgroundSender,
    SendOutcome,
    SendStatus,
    check_message,
    provider_ids,
    refuse_unreadable,
    send_enveloped,
)

__all__ = [
    "DEFAULT_LEASE",
    "ENVELOPE_VERSION",
    "AccountThrottle",
    "BackgroundSender",
    "ClaimResult",
    "Envelope",
    "EnvelopeError",
    "FailureKind",
    "InMemoryLedger",
    "LedgerRecord",
    "LedgerState",
    "LocalThrottle",
    "NoThrottle",
    "RedisThrottle",
    "RetryPolicy",
    "SendLedger",
    "SendOutcome",
    "SendStatus",
    "check_message",
    "classify_failure",
    "describe_failure",
    "new_key",
    "provider_ids",
    "refuse_unreadable",
    "send_enveloped",
    "unreadable_key",
    "validate_key",
]
