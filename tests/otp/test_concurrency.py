"""Two verifications of the same token at once succeed at most once (PostgreSQL, threads).

Each thread loads the device *before* the others verify (a barrier lines them up), so every
thread holds the pending challenge in memory: only the database can decide who gets it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django_otp import verify_token as django_otp_verify_token

from otp_twofactor.conf import no_delivery_transport
from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import Verification, VerificationOutcome
from twofactor_notify.transport import InMemoryTransport

from .conftest import NUMBER, RecordingTransport, fresh, wrong_code

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("TWOFACTOR_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set TWOFACTOR_TEST_DATABASE_URL "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8


def _race(attempt: Callable[[TwoFactorSMSDevice], bool], device: TwoFactorSMSDevice) -> list[bool]:
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(THREADS)

    def run(_: int) -> bool:
        try:
            mine = TwoFactorSMSDevice.objects.get(pk=device.pk)
            barrier.wait(timeout=10)
            return attempt(mine)
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


@pytest.fixture
def no_delivery(settings: Any) -> None:
    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0


def test_local_token_is_accepted_once(no_delivery: None, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    otp = no_delivery_transport().last_otp(NUMBER)
    assert otp is not None

    results = _race(lambda d: d.verify_token(otp), device)

    assert results.count(True) == 1
    assert fresh(device).token is None


def test_local_token_is_accepted_once_through_django_otp(
    no_delivery: None, device: TwoFactorSMSDevice
) -> None:
    # django_otp.verify_token: select_for_update inside a transaction, as its forms do
    device.generate_challenge()
    otp = no_delivery_transport().last_otp(NUMBER)
    assert otp is not None
    user = device.user

    results = _race(
        lambda d: django_otp_verify_token(user, d.persistent_id, otp) is not None, device
    )

    assert results.count(True) == 1


def test_concurrent_failures_are_all_counted(no_delivery: None, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    otp = no_delivery_transport().last_otp(NUMBER)
    assert otp is not None

    results = _race(lambda d: d.verify_token(wrong_code(otp)), device)

    assert results == [False] * THREADS
    assert fresh(device).throttling_failure_count == THREADS


class ForgivingTransport(InMemoryTransport):
    """A 2Factor that would answer "OTP Matched" to every request with the right code.

    Stands in for the real service so that only our side can stop a replay.
    """

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        with self._lock:
            entry = self._sessions.get(session_id or "")
        if entry is not None and entry[1] == code:
            return Verification(VerificationOutcome.MATCHED, "OTP Matched")
        return Verification(VerificationOutcome.MISMATCH, "OTP Mismatch")


def test_remote_session_is_accepted_once(settings: Any, device: TwoFactorSMSDevice) -> None:
    transport = ForgivingTransport(load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = transport
    settings.OTP_TWOFACTOR_MODE = "remote"
    device.generate_challenge()
    otp = transport.last_otp(NUMBER)
    assert otp is not None

    def attempt(d: TwoFactorSMSDevice) -> bool:
        with transaction.atomic():
            return d.verify_token(otp)

    results = _race(attempt, device)

    assert results.count(True) == 1
    assert fresh(device).otp_session_id is None


def test_parallel_guesses_cannot_skip_the_lock_out(
    no_delivery: None, settings: Any, device: TwoFactorSMSDevice
) -> None:
    # every thread loaded the device before any guess failed; only one may get to guess
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 60
    device.generate_challenge()
    otp = no_delivery_transport().last_otp(NUMBER)
    assert otp is not None
    guesses = iter(f"{(int(otp) + i) % 10**6:06d}" for i in range(1, THREADS + 1))
    lock = threading.Lock()

    def guess(d: TwoFactorSMSDevice) -> bool:
        with lock:
            code = next(guesses)
        return d.verify_token(code)

    results = _race(guess, device)

    assert results == [False] * THREADS
    assert fresh(device).throttling_failure_count == 1  # one guess got through, not eight
    assert fresh(device).verify_token(otp) is False  # locked out


class CountingTransport(ForgivingTransport):
    """Counts the verifications that reached "2Factor"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verifications = 0

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        with self._lock:
            self.verifications += 1
        return super()._verify(code, session_id=session_id, phone=phone)


def test_parallel_remote_guesses_reach_2factor_once(
    settings: Any, device: TwoFactorSMSDevice
) -> None:
    transport = CountingTransport(load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = transport
    settings.OTP_TWOFACTOR_MODE = "remote"
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 60
    device.generate_challenge()
    otp = transport.last_otp(NUMBER)
    assert otp is not None

    results = _race(lambda d: d.verify_token(wrong_code(otp)), device)

    assert results == [False] * THREADS
    assert transport.verifications == 1
    assert fresh(device).throttling_failure_count == 1


@pytest.mark.parametrize("throttle_factor", [0, 1], ids=["throttling-off", "throttling-on"])
@pytest.mark.parametrize("slow_match", [False, True], ids=["plain", "slow-matching-answer"])
@pytest.mark.parametrize("through", ["device", "django_otp"])
def test_remote_right_code_submitted_at_once_succeeds_exactly_once(
    settings: Any,
    emulator: Emulator,
    emulator_transport: RecordingTransport,
    device: TwoFactorSMSDevice,
    throttle_factor: int,
    slow_match: bool,
    through: str,
) -> None:
    # Against the emulator over HTTP: 2Factor answers "OTP Matched" to the first VERIFY and
    # "OTP Expired" to the ones after it. Whoever hears "expired" must not void the session
    # that the matching request is about to consume: never 0 successes, never 2.
    settings.OTP_TWOFACTOR_MODE = "remote"
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = throttle_factor
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    if slow_match:
        # the first answer (the match) comes late: the others hear "expired" before it lands
        emulator.inject("latency", latency_ms=300, match="/VERIFY/", times=1)

    def submit(d: TwoFactorSMSDevice) -> bool:
        if through == "device":
            return d.verify_token(otp)
        # django-otp's (and so two_factor's) forms: the device locked in a transaction
        return django_otp_verify_token(d.user, d.persistent_id, otp) is not None

    results = _race(submit, device)

    assert results.count(True) == 1
    stored = fresh(device)
    assert stored.otp_session_id is None
    matched = [call for call in emulator_transport.verified if call.result.matched]
    assert len(matched) == 1
