"""Fixtures of the background-sending suite: a real Redis (skipped with the reason when
``TWOFACTOR_REDIS_URL`` is not set), keys isolated per test, and both ledgers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from twofactor_notify.background import InMemoryLedger, SendLedger

REDIS_URL = os.environ.get("TWOFACTOR_REDIS_URL", "")
NEEDS_REDIS = "needs a Redis server: set TWOFACTOR_REDIS_URL (.ci/run does)"


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the test Redis database; skips the test when there is none."""
    if not REDIS_URL:
        pytest.skip(NEEDS_REDIS)
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    value = f"tfn-test-{uuid.uuid4().hex}:"
    yield value
    for key in redis_client.scan_iter(match=value + "*"):
        redis_client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def ledger(request: pytest.FixtureRequest) -> SendLedger:
    """Each ledger implementation in turn: the contract is the same."""
    if request.param == "memory":
        return InMemoryLedger()
    from twofactor_notify.background.redis_ledger import RedisLedger

    client = request.getfixturevalue("redis_client")
    return RedisLedger(client, prefix=request.getfixturevalue("redis_prefix"))
