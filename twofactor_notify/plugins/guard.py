"""The send guard: limits against SMS pumping (toll fraud) and runaway loops.

Attackers trigger OTP sends to premium or foreign numbers they profit from; a bug can send
the same message in a loop. :class:`SendGuard` refuses, before anything is sent:

* numbers outside an allowlist of countries (India only, by default);
* more than ``per_number`` messages to one number within ``window`` seconds;
* more than ``global_limit`` messages in all within ``window`` seconds (optional).

Counts live in a :class:`CounterStore`, a small interface so that a store shared across
processes (Redis, Django's cache) can replace the in-memory one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import (
    ConfigurationError,
    InvalidPhoneNumberError,
    SendRefusedError,
    StoreUnavailableError,
    TwoFactorError,
)
from ..hooks import hookimpl
from ..models import BulkBatch, Message
from ..phone import normalize_phone, region_of
from .logging import mask_number

if TYPE_CHECKING:
    from ..transport import Transport

__all__ = ["CounterStore", "InMemoryCounterStore", "SendGuard"]


@runtime_checkable
class CounterStore(Protocol):
    """Counts events per key within a fixed window."""

    def increment(self, key: str, window: float, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s count in the current window; return the new count.

        The count starts over once ``window`` seconds have passed since its first event.
        """
        ...


class InMemoryCounterStore:
    """A thread-safe, per-process :class:`CounterStore`.

    Fixed windows; each key keeps its own window, so guards with different windows can share
    a store (with different ``key_prefix``). Expired keys are pruned now and then.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[float, float, int]] = {}  # key -> (start, window, n)
        self._lock = threading.Lock()
        self._ops = 0

    def __repr__(self) -> str:
        return f"InMemoryCounterStore(keys={len(self._counts)})"

    def increment(self, key: str, window: float, amount: int = 1) -> int:
        """See :meth:`CounterStore.increment`."""
        now = self._clock()
        with self._lock:
            started, _, count = self._counts.get(key, (now, window, 0))
            if now - started >= window:
                started, count = now, 0
            count += amount
            self._counts[key] = (started, window, count)
            self._ops += 1
            if self._ops % 1024 == 0:
                self._prune(now)
            return count

    def _prune(self, now: float) -> None:
        stale = [k for k, (started, window, _) in self._counts.items() if now - started >= window]
        for k in stale:
            del self._counts[k]


class SendGuard:
    """A ``before_send`` plugin that refuses sends breaking the configured limits.

    :param allowed_regions: two-letter regions numbers may belong to (``None``: any).
    :param per_number: most messages to one number per ``window`` (``None``: no limit).
    :param global_limit: most messages in all per ``window`` (``None``: no limit).
    :param window: the window, in seconds.
    :param store: where counts are kept (default :class:`InMemoryCounterStore`).
    :param key_prefix: prefix of the store keys (share a store between guards safely).

    Refusals raise :class:`SendRefusedError` with ``reason`` ``"region"``,
    ``"per_number"`` or ``"global"``. When the store cannot be used (Redis down), the guard
    fails closed: :class:`StoreUnavailableError` (a ``SendRefusedError`` with ``reason``
    ``"store_unavailable"``), and nothing is sent. Bulk batches count toward the global
    limit only (a per-number count over a million-message list would cost more than it
    guards). In a bulk
    batch, a message to a refused region refuses the batch: a bulk list with foreign numbers
    is a configuration mistake worth stopping.
    """

    def __init__(
        self,
        *,
        allowed_regions: Iterable[str] | None = ("IN",),
        per_number: int | None = 5,
        global_limit: int | None = None,
        window: float = 3600.0,
        store: CounterStore | None = None,
        key_prefix: str = "twofactor:guard",
    ) -> None:
        if window <= 0:
            raise ConfigurationError("SendGuard window must be positive")
        for name, value in (("per_number", per_number), ("global_limit", global_limit)):
            if value is not None and value < 1:
                raise ConfigurationError(f"SendGuard {name} must be at least 1 or None")
        self.allowed_regions = (
            frozenset(r.upper() for r in allowed_regions) if allowed_regions is not None else None
        )
        self.per_number = per_number
        self.global_limit = global_limit
        self.window = window
        self.store: CounterStore = store if store is not None else InMemoryCounterStore()
        self.key_prefix = key_prefix

    def __repr__(self) -> str:
        regions = sorted(self.allowed_regions) if self.allowed_regions is not None else None
        return (
            f"SendGuard(allowed_regions={regions}, per_number={self.per_number}, "
            f"global_limit={self.global_limit}, window={self.window:g})"
        )

    @hookimpl(trylast=True)
    def before_send(self, message: Message, transport: Transport) -> None:
        """Refuse the message if it breaks a limit; count it otherwise.

        It runs last, so it judges the message as the other plugins left it: a plugin that
        rewrites the recipient cannot send past the allowlist.
        """
        recipients = message.recipients
        if isinstance(message, BulkBatch):
            recipients = tuple(self._bulk_number(r, transport) for r in recipients)
        if self.allowed_regions is not None:
            for number in recipients:
                if number and region_of(number) not in self.allowed_regions:
                    raise SendRefusedError(
                        f"sending to {mask_number(number)} is not allowed: its region "
                        f"{region_of(number)} is not in {sorted(self.allowed_regions)}",
                        reason="region",
                    )
        if self.global_limit is not None:
            total = self._count(f"{self.key_prefix}:global", amount=len(recipients))
            if total > self.global_limit:
                raise SendRefusedError(
                    f"global send limit of {self.global_limit} per {self.window:g}s reached",
                    reason="global",
                )
        if self.per_number is not None and not isinstance(message, BulkBatch):
            for number in recipients:
                count = self._count(f"{self.key_prefix}:n:{number}")
                if count > self.per_number:
                    raise SendRefusedError(
                        f"send limit of {self.per_number} per {self.window:g}s reached for "
                        f"{mask_number(number)}",
                        reason="per_number",
                    )

    def _count(self, key: str, amount: int = 1) -> int:
        """The store's new count for ``key``; a store that fails refuses the send."""
        try:
            return self.store.increment(key, self.window, amount=amount)
        except TwoFactorError:
            raise
        except Exception as exc:  # a store of your own: its error type is its own
            failure = type(exc).__name__
        raise StoreUnavailableError(
            f"the send guard's counter store failed ({failure}); the message was not sent"
        )

    @staticmethod
    def _bulk_number(raw: str, transport: Transport) -> str:
        try:
            return normalize_phone(raw, region=transport.region)
        except InvalidPhoneNumberError:
            return ""  # the client rejects it per message; nothing to guard
