"""Login lock-out and send counters (django_twofactor.throttle) under parallel requests,
caches whose default timeout differs, and the lock-out's length."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection

from django_twofactor import send_otp, throttle
from django_twofactor.backends import locmem
from twofactor_notify.models import Verification

from .conftest import PHONE, base_settings

BACKENDS = ["django_twofactor.auth.PhoneOTPBackend", "django.contrib.auth.backends.ModelBackend"]


class SlowVerifyTransport(locmem.LocmemTransport):
    """Locmem, but checking a code takes 0.2 s (a 2Factor round trip) and is counted."""

    verify_calls = 0
    _calls_lock = threading.Lock()

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        with self._calls_lock:
            type(self).verify_calls += 1
        time.sleep(0.2)
        return super()._verify(code, session_id=session_id, phone=phone)


class SlowVerifyBackend(locmem.SMSBackend):
    """The locmem backend on :class:`SlowVerifyTransport`."""

    def build_transport(self, **options: Any) -> SlowVerifyTransport:
        return SlowVerifyTransport(**options)


def test_parallel_wrong_codes_cannot_pass_the_lockout(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.TWOFACTOR_NOTIFY = base_settings(
        BACKEND=f"{__name__}.SlowVerifyBackend", LOGIN_MAX_ATTEMPTS=3
    )
    SlowVerifyTransport.verify_calls = 0
    send_otp(PHONE)
    guesses = [f"{i:06d}" for i in range(1, 21)]  # the locmem code is random: all wrong, but
    results: list[Any] = []  # even a right one among them would only make this stricter
    barrier = threading.Barrier(len(guesses))

    def guess(code: str) -> None:
        barrier.wait()
        results.append(authenticate(None, phone=PHONE, token=code))

    threads = [threading.Thread(target=guess, args=(g,)) for g in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert SlowVerifyTransport.verify_calls <= 3  # 20 parallel guesses, at most 3 checked
    assert throttle.is_locked_out(PHONE)


def _cache_expiries(table: str) -> dict[str, datetime]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key, expires FROM {table}")  # noqa: S608 - test table
        rows = cursor.fetchall()
    out = {}
    for key, expires in rows:
        if isinstance(expires, str):
            expires = datetime.fromisoformat(expires)
        out[key] = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("default_timeout", [None, 60])
def test_counters_expire_after_their_own_window_on_a_database_cache(
    settings: Any, default_timeout: int | None
) -> None:
    table = "tfn_test_cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": table,
            "TIMEOUT": default_timeout,
        }
    }
    settings.TWOFACTOR_NOTIFY = base_settings(
        LOGIN_MAX_ATTEMPTS=2, LOGIN_LOCKOUT_SECONDS=900, SEND_WINDOW_SECONDS=300
    )
    call_command("createcachetable", verbosity=0)
    caches["default"].clear()
    for _ in range(3):  # the 2nd and 3rd go through incr(), the 2nd writes the lock
        throttle.record_failure(PHONE)
        throttle.record_send(PHONE)
    assert throttle.is_locked_out(PHONE)
    now = datetime.now(UTC)
    expiries = _cache_expiries(table)
    for key, expires in expiries.items():
        window = 300 if ":send:" in key else 900
        left = (expires - now).total_seconds()
        assert window - 10 <= left <= window + 2, (key.split(":")[3], left)
    assert {k.split(":")[3] for k in expiries} == {"fail", "lock", "send"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake ``time.time`` (the locmem cache's expiry clock too); advance ``clock[0]``."""
    now = [time.time()]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_lockout_lasts_its_full_length_from_the_last_attempt(
    settings: Any, clock: list[float]
) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(LOGIN_MAX_ATTEMPTS=3, LOGIN_LOCKOUT_SECONDS=900)
    throttle.record_failure(PHONE)
    clock[0] += 890  # the window of the first failure is nearly over
    throttle.record_failure(PHONE)
    throttle.record_failure(PHONE)
    assert throttle.is_locked_out(PHONE)
    clock[0] += 20  # past the first failure's window
    assert throttle.is_locked_out(PHONE)
    clock[0] += 860  # 880 s after the third attempt
    assert throttle.is_locked_out(PHONE)
    clock[0] += 30  # 910 s after it
    assert not throttle.is_locked_out(PHONE)
    assert throttle.failure_count(PHONE) == 0


def test_attempts_are_counted_within_one_window(settings: Any, clock: list[float]) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(LOGIN_MAX_ATTEMPTS=3, LOGIN_LOCKOUT_SECONDS=900)
    assert throttle.record_attempt(PHONE) == 1
    assert throttle.record_attempt(PHONE) == 2
    clock[0] += 901
    assert throttle.record_attempt(PHONE) == 1  # a new window
    assert not throttle.is_locked_out(PHONE)
    throttle.clear_failures(PHONE)
    assert throttle.attempt_count(PHONE) == 0
