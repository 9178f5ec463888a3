"""The account-wide throttle on a real Redis: one schedule for every process."""

from __future__ import annotations

import itertools
import multiprocessing
from typing import Any

import pytest

from twofactor_notify.background import LocalThrottle, NoThrottle, RedisThrottle
from twofactor_notify.errors import ConfigurationError, RateLimitedError

from .conftest import REDIS_URL


def _reserve_many(url: str, key: str, rate: float, count: int) -> list[float]:
    import redis

    throttle = RedisThrottle(redis.Redis.from_url(url), rate=rate, key=key)
    return [throttle.reserve()[1] for _ in range(count)]


def test_processes_share_one_schedule_of_evenly_spaced_slots(
    redis_client: Any, redis_prefix: str
) -> None:
    # Three processes reserve from one key: the slots they get, together, are spaced exactly
    # 1/rate apart, none shared, whatever order the processes ran in.
    rate, per_process = 50.0, 40
    key = redis_prefix + "throttle"
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        results = pool.starmap(_reserve_many, [(REDIS_URL, key, rate, per_process)] * 3)
    slots = sorted(s for result in results for s in result)
    assert len(set(slots)) == 3 * per_process
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(gap - 1 / rate) < 1e-5 for gap in gaps), gaps[:5]


def test_wait_sleeps_until_the_reserved_slot(redis_client: Any, redis_prefix: str) -> None:
    slept: list[float] = []
    throttle = RedisThrottle(redis_client, rate=10, key=redis_prefix + "t", sleep=slept.append)
    waits = [throttle.wait() for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.01)
    assert slept == waits[1:] or slept == waits  # a zero wait does not sleep
    # each later caller is handed a slot one interval after the previous one
    assert waits[4] == pytest.approx(0.4, abs=0.05)


def test_max_wait_refuses_without_reserving(redis_client: Any, redis_prefix: str) -> None:
    key = redis_prefix + "t"
    throttle = RedisThrottle(redis_client, rate=1, key=key, max_wait=0.5, sleep=lambda s: None)
    throttle.wait()
    before = redis_client.get(key)
    with pytest.raises(RateLimitedError) as info:
        throttle.wait()
    assert info.value.retry_after is not None and 0.5 < info.value.retry_after <= 1.0
    assert redis_client.get(key) == before


def test_burst_lets_the_first_requests_go_back_to_back(
    redis_client: Any, redis_prefix: str
) -> None:
    throttle = RedisThrottle(redis_client, rate=2, burst=4, key=redis_prefix + "t")
    waits = [throttle.reserve()[0] for _ in range(5)]
    assert waits[:4] == pytest.approx([0, 0, 0, 0], abs=0.01)
    assert waits[4] > 0.3


def test_the_schedule_key_expires_when_idle(redis_client: Any, redis_prefix: str) -> None:
    key = redis_prefix + "t"
    RedisThrottle(redis_client, rate=100, key=key).reserve()
    assert 0 < redis_client.pttl(key) <= 1100


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-5, 1), (True, 1), ("200", 1), (200, 0), (200, 1.5)]
)
def test_bad_settings_are_refused(redis_client: Any, rate: Any, burst: Any) -> None:
    with pytest.raises(ConfigurationError):
        RedisThrottle(redis_client, rate=rate, burst=burst)


def test_local_and_no_throttle_need_no_redis() -> None:
    assert NoThrottle().wait() == 0.0
    local = LocalThrottle(1000)
    assert local.wait() >= 0.0
    with pytest.raises(ConfigurationError):
        LocalThrottle(0)
