"""The send guard's counts shared through a real Redis server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from twofactor_notify import InMemoryTransport, SendRefusedError
from twofactor_notify.plugins import SendGuard
from twofactor_notify.plugins.redis_store import RedisCounterStore

REDIS_URL = os.environ.get("TWOFACTOR_REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs a Redis server: set TWOFACTOR_REDIS_URL (.ci/run does)"
)


@pytest.fixture
def redis_client() -> Iterator[Any]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    value = f"tfn-test-{uuid.uuid4().hex}:"
    yield value
    for key in redis_client.scan_iter(match=value + "*"):
        redis_client.delete(key)


def test_counts_accumulate_in_one_window_and_expire(redis_client: Any, prefix: str) -> None:
    store = RedisCounterStore(redis_client, prefix=prefix)
    assert store.increment("k", 30) == 1
    assert store.increment("k", 30, amount=4) == 5
    ttl = redis_client.ttl(prefix + "k")
    assert 0 < ttl <= 30  # the window was set by the first event and not extended


def test_two_guards_in_different_processes_share_the_limit(redis_client: Any, prefix: str) -> None:
    # Two transports with their own guard and their own store object stand for two
    # processes: only Redis is shared.
    def make() -> InMemoryTransport:
        guard = SendGuard(
            per_number=3, window=60, store=RedisCounterStore(redis_client, prefix=prefix)
        )
        return InMemoryTransport(plugins=[guard], load_entrypoints=False)

    first, second = make(), make()
    first.send_sms("9876543210", "one", sender="TFACTR")
    second.send_sms("9876543210", "two", sender="TFACTR")
    first.send_sms("9876543210", "three", sender="TFACTR")
    with pytest.raises(SendRefusedError) as info:
        second.send_sms("9876543210", "four", sender="TFACTR")
    assert info.value.reason == "per_number"
    assert len(first.outbox) + len(second.outbox) == 3
