"""The django-two-factor-auth SMS gateway."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from django_twofactor.backends import locmem
from django_twofactor.gateway import TwoFactorGateway, VoiceCallNotSupported
from django_twofactor.models import MessageKind, OutgoingMessage
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import OTPMessage

from .conftest import PHONE

pytestmark = pytest.mark.django_db

GATEWAY = "django_twofactor.gateway.TwoFactorGateway"


@dataclass
class Device:
    """Stands in for two_factor's PhoneDevice: the gateway contract is ``device.number``."""

    number: Any
    method: str = "sms"


def test_send_sms_uses_the_custom_otp_endpoint_with_the_template(on_emulator: Emulator) -> None:
    sent = TwoFactorGateway().send_sms(device=Device("+91 98765 43210"), token="482913")
    assert sent.to == PHONE
    (record,) = on_emulator.messages(PHONE)
    assert record.kind == "otp" and record.template == "OTPTest" and record.otp == "482913"
    assert on_emulator.last_otp(PHONE) == "482913"
    row = OutgoingMessage.objects.get()
    assert row.kind == MessageKind.OTP and row.provider_id == sent.session_id
    assert "482913" not in repr(row.__dict__)  # the token is never stored


def test_send_sms_on_locmem() -> None:
    TwoFactorGateway().send_sms(Device(PHONE), "4829")
    assert locmem.outbox == [OTPMessage(to=PHONE, template="OTPTest", otp="4829")]


def test_make_call_is_not_supported() -> None:
    with pytest.raises(NotImplementedError, match="voice calls are not supported"):
        TwoFactorGateway().make_call(Device(PHONE), "482913")
    assert issubclass(VoiceCallNotSupported, NotImplementedError)


def test_with_the_real_django_two_factor_auth(on_emulator: Emulator, settings: Any) -> None:
    gateways = pytest.importorskip(
        "two_factor.gateways", reason="django-two-factor-auth is not installed"
    )
    phonenumber = pytest.importorskip("phonenumber_field.phonenumber")
    settings.TWO_FACTOR_SMS_GATEWAY = GATEWAY
    number = phonenumber.PhoneNumber.from_string("+919876543210")
    gateways.send_sms(device=Device(number), token="123456")
    assert on_emulator.last_otp(PHONE) == "123456"
    settings.TWO_FACTOR_CALL_GATEWAY = GATEWAY
    with pytest.raises(NotImplementedError):
        gateways.make_call(device=Device(number), token="123456")
