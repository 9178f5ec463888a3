"""A :class:`~twofactor_notify.plugins.guard.CounterStore` shared through Redis.

With several processes or machines sending, per-process counts let each of them send the full
limit. This store keeps the send guard's windows in Redis, so that every process sees the same
counts::

    import redis
    from twofactor_notify.plugins import SendGuard
    from twofactor_notify.plugins.redis_store import RedisCounterStore

    guard = SendGuard(store=RedisCounterStore(redis.Redis.from_url(REDIS_URL)))

Needs the ``redis`` package (``pip install "twofactor-notify[redis]"``).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import StoreUnavailableError

__all__ = ["RedisCounterStore"]


class RedisCounterStore:
    """Fixed windows in Redis: ``SET key 0 EX window NX`` then ``INCRBY``, in one transaction.

    The first event of a window creates the key with its expiry; later events only add to it,
    so the window does not slide. Windows are rounded up to whole seconds (Redis's unit).

    :param client: a ``redis.Redis`` (or compatible) client.
    :param prefix: prepended to every key.

    When Redis cannot be reached or answers with an error, :meth:`increment` raises
    :class:`~twofactor_notify.errors.StoreUnavailableError`: a guard using this store then
    refuses the send (it fails closed) rather than sending uncounted.
    """

    def __init__(self, client: Any, *, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisCounterStore(prefix={self.prefix!r})"

    def increment(self, key: str, window: float, amount: int = 1) -> int:
        """Add ``amount`` to ``key`` in its current window and return the new count."""
        name = self.prefix + key
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(name, 0, ex=max(1, math.ceil(window)), nx=True)
            pipe.incrby(name, amount)
            _, count = pipe.execute()
            return int(count)
        except Exception as exc:  # redis.RedisError, OSError, a compatible client's own
            failure = type(exc).__name__
        # raised outside the except block: the client's error (and its frames) stay behind
        raise StoreUnavailableError(
            f"the Redis counter store could not be used ({failure}); nothing was counted"
        )
