"""Local mode: the device makes the token, sends it as a custom OTP, keeps only its hash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_otp.models import GenerateNotAllowed, VerifyNotAllowed

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import OTPMessage

from .conftest import NUMBER, RecordingTransport, fresh, wrong_code

pytestmark = pytest.mark.django_db


def test_challenge_sends_a_custom_otp_and_stores_only_its_hash(
    emulator: Emulator, emulator_transport: RecordingTransport, device: TwoFactorSMSDevice
) -> None:
    message = device.generate_challenge()

    assert message == "sent by SMS to +91******3210"
    assert len(emulator.messages(NUMBER)) == 1
    otp = emulator.last_otp(NUMBER)
    assert otp is not None and len(otp) == 6 and otp.isdigit()
    (sent,) = emulator_transport.sent
    assert isinstance(sent, OTPMessage) and sent.otp == otp  # the custom-OTP endpoint
    stored = fresh(device)
    assert stored.token is not None and otp not in stored.token and len(stored.token) == 64
    assert stored.otp_session_id is None
    assert stored.valid_until > timezone.now() + timedelta(seconds=290)
    assert stored.last_generated_timestamp is not None


def test_token_is_accepted_once(emulator: Emulator, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert fresh(device).verify_token(otp) is True
    stored = fresh(device)
    assert stored.token is None
    assert stored.last_used_at is not None
    assert stored.last_generated_timestamp is None  # cooldown reset, as django-otp does
    assert stored.verify_token(otp) is False  # replay


def test_wrong_token_counts_toward_throttling(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert device.verify_token(wrong_code(otp)) is False
    assert fresh(device).throttling_failure_count == 1

    allowed, data = fresh(device).verify_is_allowed()
    assert allowed is False
    assert data["reason"] is VerifyNotAllowed.N_FAILED_ATTEMPTS
    assert data["failure_count"] == 1
    # locked out: even the right token is refused (and does not consume the challenge)
    assert fresh(device).verify_token(otp) is False
    assert fresh(device).token is not None

    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0  # lock-out off: the right token works again
    assert fresh(device).verify_token(otp) is True
    assert fresh(device).throttling_failure_count == 0


@pytest.mark.parametrize("junk", ["", "   ", "12345a", "1234567", None, 123456])
def test_junk_tokens_are_refused_and_counted(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any, junk: object
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    device.generate_challenge()
    assert device.verify_token(junk) is False
    assert fresh(device).throttling_failure_count == 1


def test_token_with_spaces_is_a_wrong_code_the_form_strips_it(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    # one rule for codes on every path: nothing is trimmed for the caller (django-otp's
    # forms strip what people type, as every CharField does)
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    assert device.verify_token(f" {otp} ") is False
    assert fresh(device).throttling_failure_count == 1
    assert device.verify_token(otp) is True


def test_expired_token_is_refused(emulator: Emulator, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    TwoFactorSMSDevice.objects.filter(pk=device.pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )

    assert fresh(device).verify_token(otp) is False
    assert fresh(device).throttling_failure_count == 1


def test_token_validity_setting(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_TOKEN_VALIDITY = 30
    before = timezone.now()
    device.generate_challenge()
    valid_until = fresh(device).valid_until
    assert before + timedelta(seconds=30) <= valid_until <= timezone.now() + timedelta(seconds=30)


def test_cooldown_blocks_a_second_sms(emulator: Emulator, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    second = fresh(device).generate_challenge()

    assert "cooldown" in second
    assert len(emulator.messages(NUMBER)) == 1
    allowed, data = fresh(device).generate_is_allowed()
    assert allowed is False
    assert data["reason"] is GenerateNotAllowed.COOLDOWN_DURATION_PENDING
    # the first token still works
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    assert fresh(device).verify_token(otp) is True


def test_cooldown_is_claimed_atomically_by_stale_copies(
    emulator: Emulator, device: TwoFactorSMSDevice
) -> None:
    # two requests loaded the device before either sent: only one SMS goes out
    first, second = fresh(device), fresh(device)
    first.generate_challenge()
    message = second.generate_challenge()

    assert "cooldown" in message
    assert len(emulator.messages(NUMBER)) == 1


def test_cooldown_ends(emulator: Emulator, device: TwoFactorSMSDevice) -> None:
    device.generate_challenge()
    TwoFactorSMSDevice.objects.filter(pk=device.pk).update(
        last_generated_timestamp=timezone.now() - timedelta(seconds=61)
    )
    assert fresh(device).generate_challenge() == "sent by SMS to +91******3210"
    assert len(emulator.messages(NUMBER)) == 2


def test_new_challenge_voids_the_previous_token(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 0
    device.generate_challenge()
    first = emulator.last_otp(NUMBER)
    device.generate_challenge()
    second = emulator.last_otp(NUMBER)
    assert first is not None and second is not None
    assert len(emulator.messages(NUMBER)) == 2

    if first != second:  # one in a million they are equal
        assert fresh(device).verify_token(first) is False
        settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    assert fresh(device).verify_token(second) is True


def test_template_setting_reaches_2factor(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_TEMPLATE = "LoginOTP"
    device.generate_challenge()
    assert emulator.messages(NUMBER)[-1].template == "LoginOTP"


def test_challenge_message_setting(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_CHALLENGE_MESSAGE = "Code sent to {number}."
    assert device.generate_challenge() == "Code sent to +91******3210."


def test_no_challenge_no_verification(
    emulator: Emulator, emulator_transport: RecordingTransport, device: TwoFactorSMSDevice
) -> None:
    assert device.verify_token("123456") is False
    assert fresh(device).throttling_failure_count == 1
    assert emulator_transport.sent == [] and emulator_transport.verified == []


def test_device_is_interactive(device: TwoFactorSMSDevice) -> None:
    assert device.is_interactive() is True


@pytest.fixture
def kept_otp(settings: Any, device: TwoFactorSMSDevice) -> str:
    """A challenge kept in process (OTP_TWOFACTOR_NO_DELIVERY); its code."""
    from otp_twofactor.conf import no_delivery_transport

    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    device.generate_challenge()
    otp = no_delivery_transport().last_otp(NUMBER)
    assert otp is not None
    return otp


def test_stale_instance_cannot_skip_the_lock_out(
    kept_otp: str, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 60
    stale = fresh(device)  # loaded by a request before the wrong guess below
    assert stale.verify_is_allowed()[0] is True

    assert fresh(device).verify_token(wrong_code(kept_otp)) is False

    # the stale copy still believes nothing failed; verify_token checks what is stored
    assert stale.verify_token(kept_otp) is False
    stored = fresh(device)
    assert stored.token is not None  # not consumed
    assert stored.throttling_failure_count == 1  # and the refused attempt is not counted
    assert stale.verify_is_allowed()[0] is False  # the instance was refreshed


def test_right_code_survives_secret_key_rotation(
    kept_otp: str, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "rotated-secret-key-for-the-test-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old_key]

    assert fresh(device).verify_token(wrong_code(kept_otp)) is False
    assert fresh(device).throttling_failure_count == 1
    assert fresh(device).verify_token(kept_otp) is True  # hashed with the old key
    assert fresh(device).throttling_failure_count == 0


def test_code_hashed_with_a_dropped_key_is_refused(
    kept_otp: str, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    settings.SECRET_KEY = "rotated-secret-key-for-the-test-0123456789"
    settings.SECRET_KEY_FALLBACKS = []

    assert fresh(device).verify_token(kept_otp) is False
    assert fresh(device).throttling_failure_count == 1
