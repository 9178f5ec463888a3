"""Background options: one mapping for Django and Flask, every bad value named by its key."""

from __future__ import annotations

from typing import Any

import pytest

from twofactor_notify.background import InMemoryLedger, LocalThrottle, RedisThrottle
from twofactor_notify.background.config import OPTION_NAMES, BackgroundOptions, build_sender
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import InMemoryTransport

GOOD = {"ENGINE": "celery", "REDIS_URL": "redis://:pw@127.0.0.1:6379/3"}


def test_defaults() -> None:
    options = BackgroundOptions.from_mapping(GOOD)
    assert (options.engine, options.ledger, options.queue) == ("celery", "redis", None)
    assert options.account_rate_limit == 200
    assert (options.max_attempts, options.max_retry_delay, options.lease_seconds) == (5, 300, 120)
    assert options.key_prefix == "twofactor:"
    assert "pw" not in repr(options)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"ENGINE": None}, "ENGINE"),
        ({"ENGINE": "rq"}, "ENGINE"),
        ({"REDIS_URL": None}, "REDIS_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": 5}, "REDIS_URL"),
        ({"LEDGER": "database"}, "LEDGER"),
        ({"QUEUE": ""}, "QUEUE"),
        ({"QUEUE": 3}, "QUEUE"),
        ({"ACCOUNT_RATE_LIMIT": 0}, "ACCOUNT_RATE_LIMIT"),
        ({"ACCOUNT_RATE_LIMIT": "200"}, "ACCOUNT_RATE_LIMIT"),
        ({"ACCOUNT_RATE_LIMIT": float("inf")}, "ACCOUNT_RATE_LIMIT"),
        ({"MAX_ATTEMPTS": 0}, "MAX_ATTEMPTS"),
        ({"MAX_ATTEMPTS": True}, "MAX_ATTEMPTS"),
        ({"MAX_RETRY_DELAY": -1}, "MAX_RETRY_DELAY"),
        ({"LEASE_SECONDS": 0}, "LEASE_SECONDS"),
        ({"KEY_PREFIX": None}, "KEY_PREFIX"),
        ({"KEY_PREFIX": ""}, "KEY_PREFIX"),
        ({"REDIS_URL": "redis://:pw@127.0.0.1:6379/notadb"}, "REDIS_URL"),
        ({"REDIS_URL": "rediss://:pw@127.0.0.1:6379/?db=x"}, "REDIS_URL"),
        ({"REDIS_URL": "unix://:pw@/run/redis.sock?db=one"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://:pw@127.0.0.1:notaport/0"}, "REDIS_URL"),
        ({"RATE": 5}, "RATE"),
    ],
)
def test_each_bad_value_is_named(change: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        BackgroundOptions.from_mapping({**GOOD, **change}, where="TWOFACTOR_BACKGROUND")
    assert key in str(info.value) and "TWOFACTOR_BACKGROUND" in str(info.value)
    assert "pw@" not in str(info.value)


def test_an_adapter_may_add_engines_and_ledgers_without_redis() -> None:
    raw = {"ENGINE": "django_tasks", "LEDGER": "database", "ACCOUNT_RATE_LIMIT": 50}
    options = BackgroundOptions.from_mapping(raw, engines=("django_tasks",), ledgers=("database",))
    assert options.redis_url is None and options.ledger == "database"
    ledger = InMemoryLedger()
    sender = build_sender(InMemoryTransport(load_entrypoints=False), options, ledger=ledger)
    assert sender.ledger is ledger
    assert isinstance(sender.throttle, LocalThrottle)  # no Redis: kept per process
    with pytest.raises(ConfigurationError):
        build_sender(InMemoryTransport(load_entrypoints=False), options)


def test_with_redis_the_ledger_and_throttle_are_shared(redis_client: Any) -> None:
    options = BackgroundOptions.from_mapping({**GOOD, "KEY_PREFIX": "acct1:"})
    sender = build_sender(
        InMemoryTransport(load_entrypoints=False), options, redis_client=redis_client
    )
    assert isinstance(sender.ledger, RedisLedger) and sender.ledger.prefix == "acct1:ledger:"
    assert isinstance(sender.throttle, RedisThrottle) and sender.throttle.key == "acct1:throttle"
    assert sender.throttle.rate == 200
    none = BackgroundOptions.from_mapping({**GOOD, "ACCOUNT_RATE_LIMIT": None})
    no_limit = build_sender(
        InMemoryTransport(load_entrypoints=False), none, redis_client=redis_client
    )
    assert not isinstance(no_limit.throttle, RedisThrottle | LocalThrottle)


@pytest.mark.parametrize("timeout", [10.0, (3.05, 27.0)])
def test_a_lease_not_above_the_transports_timeout_is_refused(timeout: Any) -> None:
    from twofactor_notify.client import TwoFactorClient
    from twofactor_notify.transport import TwoFactorTransport

    client = TwoFactorClient("k" * 36, timeout=timeout)
    transport = TwoFactorTransport(client, load_entrypoints=False)
    total = sum(timeout) if isinstance(timeout, tuple) else timeout
    try:
        for lease in (1, total):
            options = BackgroundOptions.from_mapping({**GOOD, "LEASE_SECONDS": lease})
            with pytest.raises(ConfigurationError, match="LEASE_SECONDS") as info:
                build_sender(transport, options, ledger=InMemoryLedger())
            assert "LEASE_SECONDS" in (info.value.key or "")
        options = BackgroundOptions.from_mapping({**GOOD, "LEASE_SECONDS": total + 1})
        assert build_sender(transport, options, ledger=InMemoryLedger()).lease == total + 1
    finally:
        transport.close()


#: A refused value of every option the background setting takes (a new option must be added).
BAD_VALUES: dict[str, Any] = {
    "ENGINE": "rq",
    "LEDGER": "nowhere",
    "QUEUE": "",
    "REDIS_URL": "localhost:6379",
    "ACCOUNT_RATE_LIMIT": 0,
    "MAX_ATTEMPTS": 0,
    "MAX_RETRY_DELAY": -1,
    "LEASE_SECONDS": 0,
    "KEY_PREFIX": "",
}

#: How each framework's users write the setting (the core's own default first).
WHERE = ["BACKGROUND", "TWOFACTOR_NOTIFY['BACKGROUND']", "TWOFACTOR_BACKGROUND"]


def test_every_option_has_a_refused_value_here() -> None:
    assert set(BAD_VALUES) == OPTION_NAMES


def _named_as_written(exc: ConfigurationError, where: str, option: str) -> None:
    key = f"{where}[{option!r}]"
    assert exc.key == key
    assert key in exc.message
    # no other spelling of the setting: every "BACKGROUND[" is the one the user wrote
    assert exc.message.count("BACKGROUND") == exc.message.count(where)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("option", sorted(BAD_VALUES))
def test_a_bad_value_of_each_option_is_named_as_the_user_wrote_it(where: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        BackgroundOptions.from_mapping({**GOOD, option: BAD_VALUES[option]}, where=where)
    _named_as_written(info.value, where, option)


@pytest.mark.parametrize("where", WHERE)
def test_build_ledger_and_build_sender_name_the_setting_as_the_user_wrote_it(where: str) -> None:
    from twofactor_notify.background.config import build_ledger
    from twofactor_notify.client import TwoFactorClient
    from twofactor_notify.transport import TwoFactorTransport

    transport = TwoFactorTransport(TwoFactorClient("k" * 36, timeout=10), load_entrypoints=False)
    adapter = BackgroundOptions.from_mapping(
        {"ENGINE": "celery", "LEDGER": "database"}, where=where, ledgers=("database",)
    )
    short = BackgroundOptions.from_mapping({**GOOD, "LEASE_SECONDS": 5}, where=where)
    calls = [
        ("LEASE_SECONDS", lambda: build_sender(transport, short, ledger=InMemoryLedger())),
        ("LEDGER", lambda: build_ledger(adapter)),
        ("LEDGER", lambda: build_sender(transport, adapter)),
    ]
    try:
        for option, call in calls:
            with pytest.raises(ConfigurationError) as info:
                call()
            _named_as_written(info.value, where, option)
    finally:
        transport.close()
