"""Redis unreachable: the counter store raises the library's error and the guard fails closed.

Run against a real closed port (nothing listens there), not a patched client.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from twofactor_notify import (
    BulkMessage,
    SendRefusedError,
    StoreUnavailableError,
    TwoFactorClient,
    TwoFactorTransport,
    hookimpl,
)
from twofactor_notify.emulator import Emulator
from twofactor_notify.plugins import SendGuard
from twofactor_notify.plugins.redis_store import RedisCounterStore

redis = pytest.importorskip("redis", reason="the redis extra is not installed")


@pytest.fixture
def unreachable_redis() -> Iterator[Any]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    yield client
    client.close()


class Errors:
    def __init__(self) -> None:
        self.seen: list[BaseException | None] = []

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        self.seen.append(error)


def test_the_store_raises_a_library_error_with_nothing_chained(unreachable_redis: Any) -> None:
    store = RedisCounterStore(unreachable_redis, prefix="tfn:")
    with pytest.raises(StoreUnavailableError) as caught:
        store.increment("k", 60)
    error = caught.value
    assert isinstance(error, SendRefusedError) and error.reason == "store_unavailable"
    assert error.__cause__ is None and error.__context__ is None
    assert "ConnectionError" in str(error)


# bulk batches count toward the global limit only (documented), so no per_number case for them
@pytest.mark.parametrize(
    ("call", "limit"),
    [
        ("send_otp", "per_number"),
        ("send_otp", "global"),
        ("send_sms", "per_number"),
        ("send_sms", "global"),
        ("send_bulk", "global"),
    ],
)
def test_the_guard_fails_closed_and_nothing_is_sent(
    unreachable_redis: Any, twofactor_emulator: Emulator, limit: str, call: str
) -> None:
    if limit == "global":
        guard = SendGuard(
            per_number=None, global_limit=100, store=RedisCounterStore(unreachable_redis)
        )
    else:
        guard = SendGuard(store=RedisCounterStore(unreachable_redis))
    errors = Errors()
    client = TwoFactorClient(twofactor_emulator.api_key, base_url=twofactor_emulator.url)
    with TwoFactorTransport(
        client, plugins=[guard, errors], load_entrypoints=False, default_sender="TFACTR"
    ) as transport:
        with pytest.raises(StoreUnavailableError):
            if call == "send_otp":
                transport.send_otp("9876543210")
            elif call == "send_sms":
                transport.send_sms("9876543210", "hello")
            else:
                transport.send_bulk([BulkMessage(to="9876543210", text="hello", sender="TFACTR")])
    assert twofactor_emulator.requests == []  # nothing reached 2Factor
    assert [type(e) for e in errors.seen] == [StoreUnavailableError]


def test_a_store_of_your_own_that_fails_also_refuses(twofactor_emulator: Emulator) -> None:
    class Broken:
        def increment(self, key: str, window: float, amount: int = 1) -> int:
            raise OSError("disk gone")

    client = TwoFactorClient(twofactor_emulator.api_key, base_url=twofactor_emulator.url)
    with TwoFactorTransport(
        client, plugins=[SendGuard(store=Broken())], load_entrypoints=False
    ) as transport:
        with pytest.raises(StoreUnavailableError, match="OSError"):
            transport.send_otp("9876543210")
    assert twofactor_emulator.requests == []
