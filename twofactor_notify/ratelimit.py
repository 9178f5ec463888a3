"""A client-side rate limit, so that a burst queues instead of being refused by 2Factor.

2Factor allows 200 requests per second per account by default (2,000 on its HA cluster).
:class:`RateLimiter` spaces calls evenly at ``rate`` per second, with ``burst`` calls allowed
back to back; callers block until their slot comes. It is a small interface so that a limit
shared across processes (Redis, Django's cache) can replace it later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from .errors import ConfigurationError, RateLimitedError

__all__ = ["Limiter", "RateLimiter"]


class Limiter(Protocol):
    """What the client needs from a rate limit."""

    def acquire(self, timeout: float | None = None) -> None:
        """Block until a call may go; raise :class:`RateLimitedError` after ``timeout``."""
        ...


class RateLimiter:
    """A thread-safe pacing limiter (a "virtual scheduling" token bucket).

    Each call reserves the next free slot ``1/rate`` seconds after the previous one (with up
    to ``burst`` slots in hand) and sleeps until it arrives, so the long-run rate never exceeds
    ``rate`` and waiting callers are served in order.

    ``clock`` and ``sleep`` (default :func:`time.monotonic` and :func:`time.sleep`) can be
    replaced, for tests or for a cooperative scheduler.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError("rate limit must be a positive number of calls per second")
        if burst < 1:
            raise ConfigurationError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = burst
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}, burst={self.burst})"

    def acquire(self, timeout: float | None = None) -> None:
        """Reserve a slot and sleep until it comes."""
        with self._lock:
            now = self._clock()
            earliest = now - (self.burst - 1) * self._interval
            slot = max(self._next, earliest)
            wait = slot - now
            if timeout is not None and wait > timeout:
                raise RateLimitedError(
                    "client-side rate limit: no slot within the timeout", retry_after=wait
                )
            self._next = slot + self._interval
        if wait > 0:
            self._sleep(wait)
