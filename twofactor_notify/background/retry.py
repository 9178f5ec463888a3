"""Which failed sends may be tried again, and when.

A send is retried only when the failure proves 2Factor never got it:

* :class:`~twofactor_notify.errors.APIConnectionError` — no connection was made (refused,
  DNS, TLS, connect timeout), so the request never left;
* :class:`~twofactor_notify.errors.RateLimitedError` — HTTP 429 (2Factor refused it), or the
  account throttle had no slot within its ``max_wait``; 2Factor's ``Retry-After`` is honoured;
* :class:`~twofactor_notify.errors.ServerError` without ``outcome_unknown`` (503 and the
  like: the server refused before taking the message).

Anything whose ``outcome_unknown`` is set (a timeout after the request went out, a broken or
unreadable answer, a gateway error 500/502/504) may have been accepted: never retried, recorded
as unknown. Errors that are not the library's own (a bug, a plugin's exception) are treated as
unknown too: nothing proves the message did not go. Every other library error is a refusal
(bad input, wrong key, a plugin said no): final, and never sent.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from ..errors import (
    APIConnectionError,
    ConfigurationError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TwoFactorError,
)

__all__ = ["FailureKind", "RetryPolicy", "classify_failure", "describe_failure"]


class FailureKind(enum.StrEnum):
    """What a failed send means for the ledger."""

    #: proven not sent, and worth trying again
    RETRY = "retry"
    #: refused; never sent, and trying again would not help
    FAILED = "failed"
    #: may have been sent: record as unknown, never retry
    UNKNOWN = "unknown"


def classify_failure(error: BaseException) -> FailureKind:
    """Map a send's exception to :class:`FailureKind` (see the module docstring)."""
    if not isinstance(error, TwoFactorError):
        return FailureKind.UNKNOWN
    if error.outcome_unknown or isinstance(error, RequestTimeoutError):
        return FailureKind.UNKNOWN
    if isinstance(error, APIConnectionError | RateLimitedError | ServerError):
        return FailureKind.RETRY
    return FailureKind.FAILED


def describe_failure(error: BaseException) -> str:
    """A secret-free line for the ledger: the class name, and the text for library errors
    (their text never holds a secret); other exceptions' text could, so only their class."""
    name = type(error).__name__
    if isinstance(error, TwoFactorError):
        return f"{name}: {error}"[:500]
    return f"{name} (raised inside the send; its text is not recorded)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a send that proved not sent.

    :param max_attempts: sends tried per key in all (the first one included); then ``FAILED``.
    :param base_delay: seconds before the second attempt; doubled for each one after.
    :param max_delay: the cap on any wait, ``Retry-After`` included.
    :param jitter: spread each backoff over ``[delay * (1 - jitter), delay]`` so that workers
        that failed together do not retry together.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be a whole number of at least 1")
        if not self.base_delay >= 0 or not self.max_delay >= 0:
            raise ConfigurationError("retry delays must be zero or more seconds")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter must be between 0 and 1")

    def delay(self, attempts: int, error: BaseException | None = None) -> float:
        """Seconds to wait after ``attempts`` failed sends: exponential backoff with jitter,
        at least the error's ``retry_after`` when it has one, at most ``max_delay``."""
        backoff = self.base_delay * 2 ** max(0, attempts - 1)
        backoff *= 1 - self.jitter * random.random()
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > backoff:
            backoff = float(retry_after)
        return float(min(backoff, self.max_delay))
