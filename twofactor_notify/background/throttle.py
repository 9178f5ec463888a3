"""The account-wide throttle: one rate for every worker on every machine.

2Factor limits requests per account (200 per second by default). Each worker pacing itself
would let N workers send N times the limit, so workers share one schedule in Redis:
:class:`RedisThrottle` hands out send slots ``1/rate`` seconds apart, and a worker sleeps until
its slot. Workers wait; they do not fail (unless given ``max_wait``).

The schedule is one Lua script implementing GCRA (the "generic cell rate algorithm": a
single "next free slot" time per account). Why not a library: ``limits`` and
``pyrate-limiter`` answer "allowed now?" (yes/no), so waiting workers would poll and race for
each opening, and their windows count hits rather than space them; ``redis-cell`` is a Redis
module that managed Redis services rarely offer. A reservation in one atomic script serves
waiters in the order they asked, keeps one small key per account, and reads the time from the
Redis server, so machines whose clocks disagree still share one schedule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import ConfigurationError, RateLimitedError
from ..ratelimit import RateLimiter

__all__ = ["AccountThrottle", "LocalThrottle", "NoThrottle", "RedisThrottle"]

#: 2Factor's default limit: requests per second per account.
DEFAULT_ACCOUNT_RATE = 200.0


class AccountThrottle(Protocol):
    """What a worker needs from a throttle: block until the next request may go."""

    def wait(self) -> float:
        """Block until a request may go; return the seconds waited. May raise
        :class:`~twofactor_notify.errors.RateLimitedError` (never sent, retry later)."""
        ...


class NoThrottle:
    """No limit (for tests, or when 2Factor's own 429 answers are enough)."""

    def __repr__(self) -> str:
        return "NoThrottle()"

    def wait(self) -> float:
        """Return at once."""
        return 0.0


class LocalThrottle:
    """A limit for one process only (threads of one worker): see
    :class:`~twofactor_notify.ratelimit.RateLimiter`. Several processes need
    :class:`RedisThrottle`."""

    def __init__(self, rate: float = DEFAULT_ACCOUNT_RATE, *, burst: int = 1) -> None:
        self.limiter = RateLimiter(rate, burst=burst)

    def __repr__(self) -> str:
        return f"LocalThrottle(rate={self.limiter.rate:g}, burst={self.limiter.burst})"

    def wait(self) -> float:
        """Reserve the next slot of this process and sleep until it comes."""
        started = time.monotonic()
        self.limiter.acquire()
        return time.monotonic() - started


# KEYS[1]: the schedule key. ARGV: interval (microseconds), burst, max wait (microseconds, or
# -1 for none). Returns {granted (1/0), wait, go} in microseconds, as strings (Redis truncates
# numbers returned from Lua to integers). GCRA: ``slot`` is the request's place on the
# evenly spaced schedule, at most (burst - 1) intervals behind now after a quiet spell; the
# request goes at ``go = max(slot, now)``, so any span of T seconds holds at most
# T * rate + burst - 1 of them.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(next_free, now - (tonumber(ARGV[2]) - 1) * interval)
local wait = slot - now
local max_wait = tonumber(ARGV[3])
if max_wait >= 0 and wait > max_wait then
  return {'0', string.format('%.0f', wait), '0'}
end
local later = slot + interval
-- the value matters only while it is ahead of now - (burst - 1) * interval
local keep = later - now + (tonumber(ARGV[2]) - 1) * interval
redis.call('SET', KEYS[1], string.format('%.3f', later),
           'PX', math.floor(math.max(keep, 0) / 1000) + 1000)
return {'1', string.format('%.0f', math.max(wait, 0)), string.format('%.0f', math.max(slot, now))}
"""


class RedisThrottle:
    """One account-wide send rate shared through Redis.

    :param client: a ``redis.Redis`` client.
    :param rate: requests per second for the whole account (2Factor's default: 200).
    :param burst: requests allowed back to back after a quiet spell (1: evenly spaced).
    :param key: the Redis key of the schedule; one per 2Factor account.
    :param max_wait: seconds a worker may wait for its slot; beyond it :meth:`wait` raises
        :class:`RateLimitedError` without reserving (``None``: wait as long as needed).
    :param sleep: how to wait (default :func:`time.sleep`).
    """

    def __init__(
        self,
        client: Any,
        *,
        rate: float = DEFAULT_ACCOUNT_RATE,
        burst: int = 1,
        key: str = "twofactor:throttle",
        max_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
            raise ConfigurationError("the account rate must be a positive number per second")
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise ConfigurationError("burst must be a whole number of at least 1")
        self.client = client
        self.rate = float(rate)
        self.burst = burst
        self.key = key
        self.max_wait = max_wait
        self._sleep = sleep
        self._reserve = client.register_script(_RESERVE)

    def __repr__(self) -> str:
        return f"RedisThrottle(rate={self.rate:g}, burst={self.burst}, key={self.key!r})"

    def reserve(self) -> tuple[float, float]:
        """Reserve the account's next slot without sleeping: ``(seconds to wait, go)``,
        ``go`` being when the request may go, as POSIX seconds on the Redis server's clock.
        In any span of ``T`` seconds, at most ``T * rate + burst - 1`` requests may go.

        Raises :class:`RateLimitedError` (reserving nothing) when the wait would pass
        ``max_wait``.
        """
        max_wait = -1 if self.max_wait is None else int(self.max_wait * 1_000_000)
        granted, wait_us, slot_us = self._reserve(
            keys=[self.key], args=[f"{1_000_000 / self.rate:.3f}", self.burst, max_wait]
        )
        wait = max(0.0, int(wait_us) / 1_000_000)
        if int(granted) != 1:
            raise RateLimitedError(
                "account-wide rate limit: no send slot within max_wait", retry_after=wait
            )
        return wait, int(slot_us) / 1_000_000

    def wait(self) -> float:
        """Reserve the account's next slot and sleep until it comes; the seconds waited."""
        wait, _ = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
