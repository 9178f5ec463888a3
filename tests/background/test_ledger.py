"""The ledger contract, run against every implementation (in memory, real Redis, and the
Django app's database ledger on SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from twofactor_notify.background import (
    Envelope,
    InMemoryLedger,
    LedgerState,
    SendLedger,
)
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.models import SMSMessage


def envelope(key: str | None = None) -> Envelope:
    return Envelope.wrap(
        SMSMessage(to=("+919876543210", "+919812345678"), text="hi", sender="TFACTR"), key=key
    )


def token() -> str:
    return uuid.uuid4().hex


def test_a_new_key_is_granted_once_and_recorded_sent(ledger: SendLedger) -> None:
    env, mine = envelope(), token()
    claim = ledger.claim(env, token=mine, lease=60)
    assert claim.granted and claim.record.state is LedgerState.SENDING
    assert claim.record.attempts == 1 and claim.record.kind == "sms"
    assert claim.record.recipients == ("+919876543210", "+919812345678")
    other = ledger.claim(env, token=token(), lease=60)
    assert not other.granted and other.record.state is LedgerState.SENDING
    assert 0 < other.wait <= 60
    record = ledger.record_sent(env.key, token=mine, provider_ids=["id-1"])
    assert record.state is LedgerState.SENT and record.provider_id == "id-1"
    again = ledger.claim(env, token=token(), lease=60)
    assert not again.granted and again.record.state is LedgerState.SENT


def test_an_abandoned_claim_becomes_unknown_and_is_never_granted(ledger: SendLedger) -> None:
    env = envelope()
    dead = token()
    assert ledger.claim(env, token=dead, lease=0.001).granted
    time.sleep(0.01)
    claim = ledger.claim(env, token=token(), lease=60)
    assert not claim.granted and claim.record.state is LedgerState.UNKNOWN
    assert "stopped" in claim.record.error
    assert [r.key for r in ledger.unknown()] == [env.key]
    assert not ledger.claim(env, token=token(), lease=60).granted
    # the worker that held it answers late: what it learned wins over "unknown"
    record = ledger.record_sent(env.key, token=dead, provider_ids=["late-id"])
    assert record.state is LedgerState.SENT and record.provider_ids == ("late-id",)
    assert ledger.unknown() == []


def test_unknown_lists_claims_whose_task_never_came_back(ledger: SendLedger) -> None:
    env = envelope()
    assert ledger.claim(env, token=token(), lease=0.001).granted
    time.sleep(0.01)
    found = ledger.unknown()
    assert [r.key for r in found] == [env.key]
    assert found[0].state is LedgerState.UNKNOWN


def test_an_outcome_from_a_stale_token_changes_nothing(ledger: SendLedger) -> None:
    env, mine = envelope(), token()
    ledger.claim(env, token=mine, lease=60)
    assert ledger.record_sent(env.key, token="someone-else", provider_ids=["x"]).state is (
        LedgerState.SENDING
    )
    assert ledger.record_failed(env.key, token=mine, error="E: refused").state is (
        LedgerState.FAILED
    )
    assert ledger.record_sent(env.key, token=mine, provider_ids=["x"]).state is LedgerState.FAILED


def test_release_allows_a_new_claim_until_the_attempts_run_out(ledger: SendLedger) -> None:
    env = envelope()
    for attempt in (1, 2):
        mine = token()
        claim = ledger.claim(env, token=mine, lease=60)
        assert claim.granted and claim.record.attempts == attempt
        record = ledger.release(env.key, token=mine, error="APIConnectionError: x", max_attempts=3)
        assert record.state is LedgerState.RETRY_WAIT and record.error.startswith("APIConn")
    mine = token()
    assert ledger.claim(env, token=mine, lease=60).granted
    record = ledger.release(env.key, token=mine, error="APIConnectionError: x", max_attempts=3)
    assert record.state is LedgerState.FAILED and record.attempts == 3
    assert not ledger.claim(env, token=token(), lease=60).granted


def test_a_human_resolves_an_unknown_outcome_once(ledger: SendLedger) -> None:
    env, mine = envelope(), token()
    ledger.claim(env, token=mine, lease=60)
    ledger.record_unknown(env.key, token=mine, error="OutcomeUnknownError: timed out")
    assert [r.key for r in ledger.unknown()] == [env.key]
    with pytest.raises(InvalidInputError) as info:
        ledger.resolve(env.key, state=LedgerState.RETRY_WAIT)
    assert info.value.field == "state"
    record = ledger.resolve(env.key, state=LedgerState.FAILED, note="no report after 1 day")
    assert record.state is LedgerState.FAILED and record.note == "no report after 1 day"
    assert ledger.unknown() == []
    # the worker's late answer no longer overrides the human's decision
    assert ledger.record_sent(env.key, token=mine, provider_ids=["x"]).state is LedgerState.FAILED
    with pytest.raises(InvalidInputError):
        ledger.resolve(env.key, state=LedgerState.SENT)


def test_outcomes_for_a_key_never_claimed_are_refused(ledger: SendLedger) -> None:
    assert ledger.get("never") is None
    with pytest.raises(InvalidInputError):
        ledger.record_sent("never", token=token(), provider_ids=[])
    with pytest.raises(InvalidInputError):
        ledger.release("never", token=token(), error="", max_attempts=3)
    with pytest.raises(InvalidInputError):
        ledger.resolve("never", state=LedgerState.SENT)


def test_only_one_of_many_concurrent_claims_is_granted(ledger: SendLedger) -> None:
    # the Django app's ledgers write to the database: each thread has its own connection
    database = type(ledger).__name__ in ("DatabaseLedger", "MessageLogLedger")
    if isinstance(ledger, InMemoryLedger):
        contenders = [ledger] * 16
    elif database:
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip(
                "concurrent workers on the Django app's ledgers need PostgreSQL: set "
                "TWOFACTOR_TEST_DATABASE_URL (SQLite serialises every writer)"
            )
        # sixteen threads, each with its own database connection, stand for sixteen workers
        contenders = [ledger] * 16
    else:
        # sixteen separate clients stand for sixteen workers: only Redis is shared
        import redis

        from twofactor_notify.background.redis_ledger import RedisLedger

        from .conftest import REDIS_URL

        assert isinstance(ledger, RedisLedger)
        contenders = [
            RedisLedger(redis.Redis.from_url(REDIS_URL), prefix=ledger.prefix) for _ in range(16)
        ]
    for _ in range(20):
        env = envelope()
        barrier = threading.Barrier(len(contenders))

        def attempt(
            one: SendLedger, env: Envelope = env, barrier: threading.Barrier = barrier
        ) -> bool:
            barrier.wait()
            try:
                return one.claim(env, token=token(), lease=60).granted
            finally:
                if database:
                    from django.db import connection

                    connection.close()

        with ThreadPoolExecutor(len(contenders)) as pool:
            granted = list(pool.map(attempt, contenders))
        assert granted.count(True) == 1


def test_every_ledger_implementation_is_walked_by_these_tests() -> None:
    """A SendLedger added to the library (core or an adapter) fails here until the ``ledger``
    fixture walks it."""
    import importlib
    import inspect
    import pkgutil
    import tomllib
    from pathlib import Path

    import twofactor_notify
    from tests.background.conftest import LEDGERS

    # every package the distribution ships (pyproject's include list), adapters included
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in include]
    for package in packages:
        try:
            root = importlib.import_module(package)
        except ImportError:
            continue  # a framework that is not installed (tox -e core)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except ImportError:
                continue  # an optional engine (Celery) or framework that is not installed

    def implementations(cls: type) -> set[type]:
        found = set()
        for sub in cls.__subclasses__():
            if not inspect.isabstract(sub) and sub.__module__.split(".")[0] in packages:
                found.add(sub)
            found |= implementations(sub)
        return found

    names = {
        "InMemoryLedger": "memory",
        "RedisLedger": "redis",
        "DatabaseLedger": "database",
        "MessageLogLedger": "logged",
    }
    walked = {p if isinstance(p, str) else p.values[0] for p in LEDGERS}
    found = implementations(SendLedger)
    assert twofactor_notify and found
    assert {cls.__name__ for cls in found} <= set(names), "add the new ledger to LEDGERS"
    assert {names[cls.__name__] for cls in found} <= walked
