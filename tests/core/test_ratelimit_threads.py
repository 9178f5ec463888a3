"""The client-side rate limit (deterministic, with an injected clock) and one shared client
used by many threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from twofactor_notify import ConfigurationError, RateLimitedError, RateLimiter

from .conftest import wait_for_requests


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 1000.0, *, frozen: bool = False) -> None:
        self.now = start
        self.frozen = frozen
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if not self.frozen:
                self.now += seconds


def test_calls_are_spaced_at_the_rate():
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    moments = []
    for _ in range(5):
        limiter.acquire()
        moments.append(round(t.now - 1000.0, 6))
    assert moments == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_idle_time_is_not_saved_up_beyond_burst():
    t = FakeTime()
    limiter = RateLimiter(10, burst=3, clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    t.now += 60.0  # a long idle minute
    start = t.now
    moments = []
    for _ in range(6):
        limiter.acquire()
        moments.append(round(t.now - start, 6))
    # three back to back (the burst), then one every 0.1 s
    assert moments == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


def test_timeout_refuses_without_taking_a_slot():
    t = FakeTime(frozen=True)
    limiter = RateLimiter(4, clock=t.clock, sleep=t.sleep)
    limiter.acquire()
    limiter.acquire()  # reserved 0.25 s ahead
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(timeout=0.3)  # its slot would be 0.5 s ahead
    assert caught.value.retry_after == pytest.approx(0.5)
    limiter.acquire(timeout=0.5)  # the refused call did not move the schedule
    assert t.sleeps == [pytest.approx(0.25), pytest.approx(0.5)]


def test_threads_get_distinct_slots():
    t = FakeTime(frozen=True)
    limiter = RateLimiter(20, clock=t.clock, sleep=t.sleep)
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        limiter.acquire()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    waits = sorted(round(w, 6) for w in t.sleeps)
    assert waits == [round(n * 0.05, 6) for n in range(1, 16)]  # plus one that did not wait


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"rate": -1}, {"rate": 5, "burst": 0}])
def test_bad_limits_are_configuration_errors(kwargs):
    with pytest.raises(ConfigurationError):
        RateLimiter(**kwargs)


def test_client_asks_the_limiter_before_each_request(emulator, make_client):
    class Counting:
        def __init__(self) -> None:
            self.calls = 0

        def acquire(self, timeout: float | None = None) -> None:
            self.calls += 1

    limiter = Counting()
    client = make_client(rate_limit=limiter)
    client.send_otp("9876543210")
    client.verify_otp("123456", phone="9876543210")
    assert limiter.calls == 2


def test_client_rate_limit_spaces_real_sends(emulator, make_client):
    client = make_client(rate_limit=50)
    for n in range(20):
        client.send_otp(f"98765432{n:02d}")
    entries = wait_for_requests(emulator, 20)
    assert len(entries) == 20
    # 20 calls at 50/s cannot span less than 19 intervals of 20 ms (behaviour, not speed)
    assert entries[-1].time - entries[0].time >= 0.3


def test_one_client_shared_by_32_threads(emulator, client):
    phones = [f"98765{n:05d}" for n in range(32)]
    barrier = threading.Barrier(32)

    def send(phone: str):
        barrier.wait()
        sent = client.send_otp(phone, include_otp=True)
        return phone, sent

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(send, phones))
    assert len({sent.session_id for _, sent in results}) == 32
    for phone, sent in results:
        assert sent.to == "+91" + phone
        assert sent.otp == emulator.last_otp(phone)
    assert len(wait_for_requests(emulator, 32)) == 32
    assert len(emulator.messages()) == 32
    # and every session verifies, from many threads too
    with ThreadPoolExecutor(max_workers=32) as pool:
        verdicts = list(
            pool.map(lambda r: client.verify_otp(r[1].otp, session_id=r[1].session_id), results)
        )
    assert all(verdicts)
