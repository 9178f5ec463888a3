"""The account-wide throttle on a real Redis: one schedule for every process."""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twofactor_notify.background import LocalThrottle, NoThrottle, RedisThrottle
from twofactor_notify.errors import ConfigurationError, RateLimitedError

from .conftest import NEEDS_REDIS, REDIS_URL


def _reserve_many(url: str, key: str, rate: float, count: int) -> list[float]:
    import redis

    throttle = RedisThrottle(redis.Redis.from_url(url), rate=rate, key=key)
    return [throttle.reserve()[1] for _ in range(count)]


def _go_times_after_pauses(
    url: str, key: str, rate: float, burst: int, pauses: list[float]
) -> list[int]:
    import redis

    client = redis.Redis.from_url(url)
    throttle = RedisThrottle(client, rate=rate, burst=burst, key=key)
    times = []
    for pause in pauses:
        time.sleep(pause)
        times.append(round(throttle.reserve()[1] * 1_000_000))
    client.close()
    return times


@pytest.fixture(scope="module")
def three_processes() -> Iterator[Any]:
    if not REDIS_URL:
        pytest.skip(NEEDS_REDIS)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        yield pool


def test_processes_share_one_schedule_of_evenly_spaced_slots(
    three_processes: Any, redis_prefix: str
) -> None:
    # Three processes reserve from one key: the slots they get, together, are spaced exactly
    # 1/rate apart, none shared, whatever order the processes ran in. (A low rate keeps the
    # schedule seconds ahead of the clock, so a process the machine starts late still finds
    # it busy.)
    rate, per_process = 10.0, 40
    key = redis_prefix + "throttle"
    results = three_processes.starmap(_reserve_many, [(REDIS_URL, key, rate, per_process)] * 3)
    slots = sorted(s for result in results for s in result)
    assert len(set(slots)) == 3 * per_process
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(abs(gap - 1 / rate) < 1e-5 for gap in gaps), gaps[:5]


#: a caller's pause before each reservation: none, a short one, or a quiet spell that lets
#: the burst build up again
PAUSE = st.one_of(
    st.just(0.0), st.just(0.0), st.just(0.0), st.floats(0.0, 0.01), st.floats(0.1, 0.4)
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    burst=st.integers(1, 20),
    pauses=st.lists(st.lists(PAUSE, min_size=25, max_size=50), min_size=3, max_size=3),
)
def test_no_second_holds_more_than_the_rate_plus_the_burst_across_processes(
    three_processes: Any, burst: int, pauses: list[list[float]]
) -> None:
    # Three processes reserve from one key, each with its own rhythm of pauses (quiet spells
    # refill the burst). Whenever the requests may go, no one-second window holds more than
    # rate + burst - 1 of them: the limit plus the documented burst is never passed.
    rate = 50
    key = f"tfn-test-{uuid.uuid4().hex}:throttle"
    results = three_processes.starmap(
        _go_times_after_pauses, [(REDIS_URL, key, rate, burst, p) for p in pauses]
    )
    go = sorted(t for result in results for t in result)
    busiest = max(bisect.bisect_left(go, t + 1_000_000) - i for i, t in enumerate(go))
    assert busiest <= rate + burst - 1


@pytest.mark.parametrize("burst", [1, 2, 10])
def test_a_full_burst_then_a_full_second_is_the_most_any_second_holds(
    three_processes: Any, burst: int
) -> None:
    # From a quiet start, three processes asking back to back fill the burst and then the
    # schedule: the busiest second holds exactly rate + burst - 1, the bound and no more.
    rate = 50
    key = f"tfn-test-{uuid.uuid4().hex}:throttle"
    each = [0.0] * ((rate + 2 * burst) // 3 + 1)
    results = three_processes.starmap(
        _go_times_after_pauses, [(REDIS_URL, key, rate, burst, each)] * 3
    )
    go = sorted(t for result in results for t in result)
    busiest = max(bisect.bisect_left(go, t + 1_000_000) - i for i, t in enumerate(go))
    assert busiest == rate + burst - 1


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
