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


#: Every SendLedger implementation the contract tests walk; a new one is added here.
LEDGERS = [
    "memory",
    "redis",
    # the database ledger's tests hold the test database (created before the session's
    # first test that is marked, hence the mark rather than a fixture requested on the way)
    pytest.param("database", marks=pytest.mark.django_db(transaction=True)),
    # the Django app's wrapper that moves the message log with any other ledger
    pytest.param("logged", marks=pytest.mark.django_db(transaction=True)),
]


@pytest.fixture(params=LEDGERS)
def ledger(request: pytest.FixtureRequest) -> SendLedger:
    """Each ledger implementation in turn: the contract is the same."""
    if request.param == "memory":
        return InMemoryLedger()
    if request.param == "database":
        pytest.importorskip("pytest_django", reason="the database ledger is the Django app's")
        return request.getfixturevalue("database_ledger")  # type: ignore[no-any-return]
    if request.param == "logged":
        pytest.importorskip("pytest_django", reason="the message log is the Django app's")
        request.getfixturevalue("database_ledger")  # the test database, for the log
        from django_twofactor.ledger import MessageLogLedger

        return MessageLogLedger(InMemoryLedger())
    from twofactor_notify.background.redis_ledger import RedisLedger

    client = request.getfixturevalue("redis_client")
    return RedisLedger(client, prefix=request.getfixturevalue("redis_prefix"))


@pytest.fixture
def database_ledger(transactional_db: None) -> SendLedger:
    """The Django app's ledger, in the test database (PostgreSQL when
    ``TWOFACTOR_TEST_DATABASE_URL`` is set, SQLite otherwise), with real transactions."""
    from django_twofactor.ledger import DatabaseLedger

    return DatabaseLedger()
