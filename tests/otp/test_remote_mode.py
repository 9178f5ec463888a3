"""Remote mode: 2Factor makes the token (AUTOGEN) and checks it (VERIFY); we keep a session id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import OTPMessage

from .conftest import NUMBER, RecordingTransport, fresh, wrong_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def remote(settings: Any) -> None:
    settings.OTP_TWOFACTOR_MODE = "remote"


def test_challenge_uses_autogen_and_stores_only_the_session(
    emulator: Emulator, emulator_transport: RecordingTransport, device: TwoFactorSMSDevice
) -> None:
    assert device.generate_challenge() == "sent by SMS to +91******3210"

    assert len(emulator.messages(NUMBER)) == 1
    (sent,) = emulator_transport.sent
    assert isinstance(sent, OTPMessage) and sent.otp is None  # AUTOGEN: 2Factor makes it
    stored = fresh(device)
    assert stored.token is None
    assert stored.otp_session_id == emulator.messages(NUMBER)[0].id


def test_token_is_checked_by_2factor_and_accepted_once(
    emulator: Emulator, emulator_transport: RecordingTransport, device: TwoFactorSMSDevice
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert fresh(device).verify_token(otp) is True
    (call,) = emulator_transport.verified
    assert call.result.matched and call.session_id is not None
    stored = fresh(device)
    assert stored.otp_session_id is None
    assert stored.last_used_at is not None
    # replay: nothing to check against, refused without asking 2Factor
    assert stored.verify_token(otp) is False
    assert len(emulator_transport.verified) == 1


def test_mismatch_counts_and_keeps_the_session(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert device.verify_token(wrong_code(otp)) is False
    stored = fresh(device)
    assert stored.throttling_failure_count == 1
    assert stored.otp_session_id is not None
    assert stored.verify_is_allowed()[0] is False  # locked out for a second

    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    assert fresh(device).verify_token(otp) is True


def test_malformed_code_is_refused_without_a_request(
    emulator: Emulator,
    emulator_transport: RecordingTransport,
    device: TwoFactorSMSDevice,
    settings: Any,
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    device.generate_challenge()
    assert device.verify_token("12ab56") is False
    assert device.verify_token("../../x") is False
    assert emulator_transport.verified == []
    assert fresh(device).throttling_failure_count == 2


@pytest.fixture
def short_lived_otps(twofactor_emulator: Emulator) -> Iterator[None]:
    ttl = twofactor_emulator.otp_ttl
    twofactor_emulator.otp_ttl = -1.0  # already expired when sent
    try:
        yield
    finally:
        twofactor_emulator.otp_ttl = ttl


def test_expired_at_2factor_counts_and_keeps_the_session_until_our_validity_ends(
    emulator: Emulator, device: TwoFactorSMSDevice, short_lived_otps: None, settings: Any
) -> None:
    # a request that comes after a concurrent match hears "OTP Expired" too: it must not
    # void the session the matching request is about to consume
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert device.verify_token(otp) is False
    stored = fresh(device)
    assert stored.throttling_failure_count == 1
    assert stored.otp_session_id is not None
    assert stored.verify_token(otp) is False  # still expired at 2Factor, still refused
    # our own validity ends it: nothing more is asked of 2Factor then
    type(device).objects.filter(pk=device.pk).update(valid_until=stored.created_at)
    assert fresh(device).verify_token(otp) is False


def test_2factor_outage_during_verify_is_not_counted_and_ends_the_cooldown(
    emulator: Emulator, device: TwoFactorSMSDevice
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    assert fresh(device).generate_is_allowed()[0] is False  # cooldown running
    emulator.inject("status", status=503, match="/VERIFY/", times=1)

    assert device.verify_token(otp) is False
    stored = fresh(device)
    assert stored.throttling_failure_count == 0
    assert stored.otp_session_id is not None
    assert stored.generate_is_allowed() == (True, None)  # a new code may be asked for now
    assert stored.verify_token(otp) is True  # 2Factor is back: the same code works


@pytest.mark.parametrize("fault", ["reset_after", "truncated"])
def test_lost_answer_to_a_matching_verify_as_documented(
    emulator: Emulator, device: TwoFactorSMSDevice, fault: str, settings: Any
) -> None:
    # 2Factor matched the code, but its answer never arrived: the docs promise that the
    # cooldown ends (a new code can be sent at once), not that the same code works again
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    emulator.inject(fault, match="/VERIFY/", times=1)

    assert device.verify_token(otp) is False
    stored = fresh(device)
    assert stored.throttling_failure_count == 0
    assert stored.generate_is_allowed() == (True, None)
    assert stored.verify_token(otp) is False  # 2Factor used the code up: "OTP Expired"

    stored.generate_challenge()  # at once, no cooldown
    new_otp = emulator.last_otp(NUMBER)
    assert new_otp is not None and len(emulator.messages(NUMBER)) == 2
    assert fresh(device).verify_token(new_otp) is True


def test_switching_mode_keeps_a_pending_challenge_verifiable(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    settings.OTP_TWOFACTOR_MODE = "local"  # verification follows what the device stored
    assert fresh(device).verify_token(otp) is True


@pytest.mark.parametrize("throttle_factor", [0, 1], ids=["throttling-off", "throttling-on"])
def test_a_submit_hearing_expired_does_not_void_a_concurrent_match(
    emulator: Emulator,
    twofactor_client: Any,
    device: TwoFactorSMSDevice,
    settings: Any,
    throttle_factor: int,
) -> None:
    # Deterministic on any database: while the first submit's "OTP Matched" is on its way
    # back, a second submit of the same code reaches 2Factor and hears "OTP Expired".
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = throttle_factor
    second: list[bool] = []
    interleaved = False

    class Interleaving(RecordingTransport):
        def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Any:
            nonlocal interleaved
            result = super()._verify(code, session_id=session_id, phone=phone)
            if not interleaved:
                interleaved = True
                second.append(fresh(device).verify_token(code))
            return result

    transport = Interleaving(twofactor_client, load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = transport
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    first = device.verify_token(otp)

    assert [first, *second] == [True, False]  # exactly one success: never 0, never 2
    assert fresh(device).otp_session_id is None
