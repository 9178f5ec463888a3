"""The phone number field, and the settings shim's transport choice."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from otp_twofactor import conf
from otp_twofactor.models import TwoFactorSMSDevice, mask_number
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import InMemoryTransport, Transport, TwoFactorTransport

from .conftest import NUMBER, fresh

pytestmark = pytest.mark.django_db

SHARED = InMemoryTransport(load_entrypoints=False)


def shared_transport() -> Transport:
    """A factory named by dotted path in a test."""
    return SHARED


@pytest.mark.parametrize("typed", ["9876543210", "98765 43210", "+91 98765-43210", "09876543210"])
def test_number_is_stored_in_e164(make_device: Any, typed: str) -> None:
    assert fresh(make_device(number=typed)).number == NUMBER


def test_other_regions(make_device: Any, settings: Any) -> None:
    settings.OTP_TWOFACTOR_REGION = "US"
    assert make_device(number="+91 98765-43210").number == NUMBER
    with pytest.raises(ValidationError, match="Indian numbers only"):
        make_device(number="(415) 555-2671")  # a US number: 2Factor sends it no OTP


@pytest.mark.parametrize(
    "bad",
    # the last two parse as valid numbers with libphonenumber (an extension after them);
    # the transport refuses them at send time, so the device refuses them when saved
    [
        *["", "12345", "not a number", "+91 12345", "+91 9876543210x", "9876543210 ext.1"],
        # valid numbers of other countries: 2Factor's OTP endpoints refuse them
        *["+12025550143", "+447911123456"],
    ],
)
def test_invalid_number_is_refused_on_save_and_clean(make_device: Any, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_device(number=bad)
    assert "number" in caught.value.message_dict
    assert not TwoFactorSMSDevice.objects.exists()

    device = make_device()
    device.number = bad
    with pytest.raises(ValidationError) as cleaned:
        device.full_clean()
    assert "number" in cleaned.value.message_dict
    assert len(cleaned.value.message_dict["number"]) == 1  # reported once


def test_full_clean_normalises(device: TwoFactorSMSDevice) -> None:
    device.number = "98765 43210"
    device.full_clean()
    assert device.number == NUMBER


def test_mask_number() -> None:
    assert mask_number("+919876543210") == "+91******3210"
    assert mask_number("+14155552671") == "+14*****2671"
    assert mask_number("12345") == "*****"


def test_transport_setting_takes_an_instance_a_callable_or_a_dotted_path(settings: Any) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = SHARED
    assert conf.get_transport() is SHARED
    settings.OTP_TWOFACTOR_TRANSPORT = shared_transport
    assert conf.get_transport() is SHARED
    settings.OTP_TWOFACTOR_TRANSPORT = "tests.otp.test_number_and_conf.shared_transport"
    assert conf.get_transport() is SHARED


@pytest.mark.parametrize("bad", ["tests.otp.nowhere.factory", object(), lambda: "nope"])
def test_bad_transport_setting(settings: Any, bad: object) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = bad
    with pytest.raises(ConfigurationError):
        conf.get_transport()


def test_api_key_builds_one_transport_per_configuration(
    twofactor_emulator: Emulator, settings: Any, device: TwoFactorSMSDevice
) -> None:
    settings.OTP_TWOFACTOR_API_KEY = twofactor_emulator.api_key
    settings.OTP_TWOFACTOR_BASE_URL = twofactor_emulator.url
    first = conf.get_transport()
    assert isinstance(first, TwoFactorTransport)
    assert conf.get_transport() is first
    assert device.generate_challenge() == "sent by SMS to +91******3210"
    assert len(twofactor_emulator.messages(NUMBER)) == 1

    settings.OTP_TWOFACTOR_TOKEN_VALIDITY = 60  # not a transport setting: kept
    assert conf.get_transport() is first
    settings.OTP_TWOFACTOR_BASE_URL = twofactor_emulator.url + "/"  # a transport setting
    assert conf.get_transport() is not first


def test_unrelated_setting_change_keeps_pending_no_delivery_codes(
    settings: Any, device: TwoFactorSMSDevice
) -> None:
    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    settings.OTP_TWOFACTOR_MODE = "remote"  # the code lives in the in-process transport
    kept = conf.no_delivery_transport()
    device.generate_challenge()
    otp = kept.last_otp(NUMBER)
    assert otp is not None

    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 30
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 2
    settings.OTP_TWOFACTOR_CHALLENGE_MESSAGE = "code sent to {number}"

    assert conf.no_delivery_transport() is kept
    assert fresh(device).verify_token(otp) is True
    settings.OTP_TWOFACTOR_NO_DELIVERY = False
    settings.OTP_TWOFACTOR_NO_DELIVERY = True  # a transport setting: a fresh one
    assert conf.no_delivery_transport() is not kept


def test_no_delivery_wins_over_everything(settings: Any) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = SHARED
    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    assert conf.get_transport() is conf.no_delivery_transport()


def test_falls_back_to_the_django_twofactor_transport() -> None:
    import django_twofactor

    assert conf.get_transport() is django_twofactor.get_transport()


def test_nothing_configured_is_a_configuration_error() -> None:
    apps = [app for app in django_settings.INSTALLED_APPS if app != "django_twofactor"]
    with override_settings(INSTALLED_APPS=apps):
        with pytest.raises(ConfigurationError, match="OTP_TWOFACTOR_API_KEY"):
            conf.get_transport()


def test_mode_must_be_local_or_remote(settings: Any, device: TwoFactorSMSDevice) -> None:
    settings.OTP_TWOFACTOR_MODE = "sideways"
    with pytest.raises(ConfigurationError):
        device.generate_challenge()
    assert fresh(device).last_generated_timestamp is None


@pytest.mark.parametrize("message", ["sent to {phone}", "sent {", "{0}", "{number.x}"])
def test_a_broken_challenge_message_sends_nothing(
    settings: Any, device: TwoFactorSMSDevice, message: str
) -> None:
    outbox = InMemoryTransport(load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = outbox
    settings.OTP_TWOFACTOR_CHALLENGE_MESSAGE = message
    with pytest.raises(ConfigurationError) as info:
        device.generate_challenge()
    assert info.value.key == "OTP_TWOFACTOR_CHALLENGE_MESSAGE"
    assert outbox.outbox == []
    settings.OTP_TWOFACTOR_CHALLENGE_MESSAGE = "sent {{really}} to {number}"
    assert device.generate_challenge() == "sent {really} to +91******3210"
    assert len(outbox.outbox) == 1  # the refusal started no cooldown
