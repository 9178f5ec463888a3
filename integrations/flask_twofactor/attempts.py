"""Per-key event counters for the phone login's throttling (:class:`AttemptStore`).

:class:`~flask_twofactor.login.PhoneLogin` *reserves* before it acts: it records the event
(a code sent, a code checked) with :meth:`AttemptStore.hit` and acts only when the count
that ``hit`` returns is within the limit. Two requests racing for the last unit can then
never both get it -- provided ``hit`` is atomic: it must record the event and count the
window in one step. :class:`MemoryAttemptStore` does so under a lock; a store shared by
several worker processes must do the same on its side, for example Redis ``INCR`` (with
``EXPIRE`` on the first hit, a fixed window) or a ``MULTI``/Lua script around a sorted set
(a sliding window). A ``count`` followed by a separate write is *not* atomic.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["AttemptStore", "MemoryAttemptStore"]


class AttemptStore(Protocol):
    """Counts events per key in a window; shareable across processes (Redis, ...).

    ``hit`` must be atomic (see the module docs): the login flow reserves with it.
    """

    def hit(self, key: str, window: float) -> int:
        """Record one event for ``key`` and return how many happened within ``window``
        seconds, this one included, atomically."""
        ...

    def count(self, key: str, window: float) -> int:
        """How many events for ``key`` happened within the last ``window`` seconds."""
        ...

    def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        ...


class MemoryAttemptStore:
    """An in-process :class:`AttemptStore` (per worker process), bounded to ``max_keys``.

    Thread-safe: ``hit`` records and counts under one lock.
    """

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryAttemptStore(max_keys={self.max_keys})"

    def _recent(self, key: str, window: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        self._events.move_to_end(key)
        horizon = self._clock() - window
        while events and events[0] <= horizon:
            events.popleft()
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return events

    def hit(self, key: str, window: float) -> int:
        """Record one event for ``key``; return the count within ``window`` (atomically)."""
        with self._lock:
            events = self._recent(key, window)
            events.append(self._clock())
            return len(events)

    def count(self, key: str, window: float) -> int:
        """The count of events for ``key`` within ``window``."""
        with self._lock:
            return len(self._recent(key, window))

    def reset(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._events.pop(key, None)
