"""Delivery: NO_DELIVERY, and what a failed send leaves behind (nothing usable, no secret)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.test import Client

from otp_twofactor.conf import no_delivery_transport
from otp_twofactor.errors import ChallengeDeliveryError
from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError, SendRefusedError
from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import Message
from twofactor_notify.transport import InMemoryTransport, Transport

from .conftest import NUMBER, PASSWORD, RecordingTransport, fresh

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_no_delivery_keeps_the_sms_in_process(
    emulator: Emulator,
    emulator_transport: RecordingTransport,
    device: TwoFactorSMSDevice,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    settings.OTP_TWOFACTOR_MODE = mode
    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    caplog.set_level(logging.INFO, logger="otp_twofactor")

    assert device.generate_challenge() == "sent by SMS to +91******3210"

    assert emulator_transport.sent == []  # nothing went to 2Factor
    kept = no_delivery_transport()
    assert len(kept.outbox) == 1
    otp = kept.last_otp(NUMBER)
    assert otp is not None
    assert "OTP_TWOFACTOR_NO_DELIVERY" in caplog.text
    assert otp not in caplog.text and NUMBER not in caplog.text
    assert fresh(device).verify_token(otp) is True


def _assert_nothing_pending(device: TwoFactorSMSDevice) -> None:
    stored = fresh(device)
    assert stored.token is None
    assert stored.otp_session_id is None


def _assert_secret_free(exc: ChallengeDeliveryError, *secrets: str) -> None:
    text = f"{exc} {exc!r}"
    for secret in (NUMBER, NUMBER[3:], *secrets):
        assert secret not in text


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_2factor_error_is_a_clear_error_and_leaves_no_valid_token(
    emulator: Emulator,
    device: TwoFactorSMSDevice,
    settings: Any,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.OTP_TWOFACTOR_MODE = mode
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 0
    device.generate_challenge()  # a pending token, which the failed challenge must void
    old = emulator.last_otp(NUMBER)
    assert old is not None
    before = fresh(device).last_generated_timestamp
    emulator.inject("status", status=503, match="/SMS/", times=1)

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert str(caught.value) == "the SMS could not be sent. Please try again in a moment."
    assert caught.value.retry_allowed is True
    _assert_secret_free(caught.value, old)
    assert old not in caplog.text
    _assert_nothing_pending(device)
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    assert fresh(device).verify_token(old) is False
    # nothing was sent, so the cooldown was given back: the user can ask again at once
    assert fresh(device).last_generated_timestamp == before
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 60
    assert fresh(device).generate_is_allowed()[0] is False  # (the first challenge's)
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 0
    assert fresh(device).generate_challenge() == "sent by SMS to +91******3210"
    new = emulator.last_otp(NUMBER)
    assert new is not None
    assert fresh(device).verify_token(new) is True


def test_wrong_api_key_is_a_clear_error_without_the_key(
    twofactor_emulator: Emulator, device: TwoFactorSMSDevice, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_API_KEY = "wrong-key-0123456789"
    settings.OTP_TWOFACTOR_BASE_URL = twofactor_emulator.url

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    _assert_secret_free(caught.value, "wrong-key-0123456789")
    assert caught.value.__cause__ is not None
    assert type(caught.value.__cause__).__name__ == "AuthenticationError"
    _assert_nothing_pending(device)


@pytest.fixture
def slow_client_transport(twofactor_emulator: Emulator, settings: Any) -> RecordingTransport:
    from twofactor_notify.client import TwoFactorClient

    client = TwoFactorClient(
        twofactor_emulator.api_key, base_url=twofactor_emulator.url, timeout=0.5
    )
    transport = RecordingTransport(client, load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = transport
    return transport


def test_timed_out_send_keeps_cooldown_and_local_token(
    twofactor_emulator: Emulator,
    slow_client_transport: RecordingTransport,
    device: TwoFactorSMSDevice,
) -> None:
    # 2Factor takes the request (the SMS goes out) but never answers
    twofactor_emulator.inject("timeout", seconds=1.0, match="/SMS/", times=1)

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert caught.value.retry_allowed is False
    assert "If the code arrives, enter it" in str(caught.value)
    # no second SMS while the first may still arrive
    assert "cooldown" in fresh(device).generate_challenge()
    otp = twofactor_emulator.last_otp(NUMBER)
    assert otp is not None
    _assert_secret_free(caught.value, otp)
    assert fresh(device).verify_token(otp) is True


def test_timed_out_send_in_remote_mode_leaves_nothing_pending(
    twofactor_emulator: Emulator,
    slow_client_transport: RecordingTransport,
    device: TwoFactorSMSDevice,
    settings: Any,
) -> None:
    settings.OTP_TWOFACTOR_MODE = "remote"
    twofactor_emulator.inject("timeout", seconds=1.0, match="/SMS/", times=1)

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert caught.value.retry_allowed is False
    _assert_nothing_pending(device)
    assert fresh(device).last_generated_timestamp is not None  # cooldown kept


class RefuseEverything:
    """A before_send plugin that refuses every message (like a send guard would)."""

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> None:
        raise SendRefusedError("refused by policy", reason="test")


def test_send_refused_by_a_plugin(device: TwoFactorSMSDevice, settings: Any) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = InMemoryTransport(
        plugins=[RefuseEverything()], load_entrypoints=False
    )
    with pytest.raises(ChallengeDeliveryError):
        device.generate_challenge()
    _assert_nothing_pending(device)


def test_login_form_shows_the_delivery_error_not_a_500(
    emulator: Emulator, device: TwoFactorSMSDevice, client: Client
) -> None:
    emulator.inject("status", status=503, match="/SMS/", times=1)
    response = client.post(
        "/otp/login/",
        {
            "username": "alice",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_challenge": "1",
        },
    )
    assert response.status_code == 200
    assert (
        "Error generating challenge: the SMS could not be sent. Please try again in a moment."
        in response.content.decode()
    )
    _assert_nothing_pending(device)


def test_failed_send_gives_the_cooldown_back(
    emulator: Emulator, device: TwoFactorSMSDevice
) -> None:
    emulator.inject("html", status=503, match="/SMS/", times=1)
    with pytest.raises(ChallengeDeliveryError):
        device.generate_challenge()
    assert fresh(device).last_generated_timestamp is None
    assert fresh(device).generate_challenge() == "sent by SMS to +91******3210"
    assert len(emulator.messages(NUMBER)) == 1


SECRET_IN_ERROR = "postgres://app:hunter2@db/prod"


class CrashingPlugin:
    """A buggy before_send plugin whose exception text holds a secret."""

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> None:
        raise RuntimeError(f"plugin crashed: {SECRET_IN_ERROR}")


class WrongReturnPlugin:
    """A buggy before_send plugin returning something that is not a message."""

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> object:
        return {"to": message.to}


@pytest.mark.parametrize(
    ("plugin", "logged", "cause"),
    [
        (CrashingPlugin(), "not delivered: unexpected RuntimeError", RuntimeError),
        # the library names the broken plugin itself (a typed error, no traceback needed)
        (WrongReturnPlugin(), "ConfigurationError: before_send plugin", ConfigurationError),
    ],
)
def test_unexpected_error_is_a_generic_delivery_error_and_gives_the_cooldown_back(
    device: TwoFactorSMSDevice,
    settings: Any,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    plugin: object,
    logged: str,
    cause: type[Exception],
) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = InMemoryTransport(plugins=[plugin], load_entrypoints=False)
    form = {
        "username": "alice",
        "password": PASSWORD,
        "otp_device": device.persistent_id,
        "otp_challenge": "1",
    }
    page = client.post("/otp/login/", form).content.decode()

    assert (
        "Error generating challenge: the SMS could not be sent. Please try again in a moment."
        in page
    )
    assert "hunter2" not in page and "plugin" not in page
    assert logged in caplog.text  # the operator learns what broke
    _assert_nothing_pending(device)
    assert fresh(device).last_generated_timestamp is None  # nothing went: cooldown given back

    with pytest.raises(ChallengeDeliveryError) as caught:
        fresh(device).generate_challenge()
    assert caught.value.retry_allowed is True
    assert isinstance(caught.value.__cause__, cause)
    assert "hunter2" not in f"{caught.value} {caught.value!r}"

    fixed = InMemoryTransport(load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = fixed
    assert fresh(device).generate_challenge() == "sent by SMS to +91******3210"
    assert len(fixed.outbox) == 1


def test_send_whose_outcome_is_unknown_keeps_cooldown_and_local_token(
    emulator: Emulator, device: TwoFactorSMSDevice
) -> None:
    # 2Factor sends the SMS but its answer is cut short: an error with outcome_unknown
    emulator.inject("truncated", match="/SMS/", times=1)

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert getattr(caught.value.__cause__, "outcome_unknown", False) is True
    assert caught.value.retry_allowed is False
    assert "If the code arrives, enter it" in str(caught.value)
    assert "cooldown" in fresh(device).generate_challenge()  # no second (billed) SMS
    assert len(emulator.messages(NUMBER)) == 1
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    _assert_secret_free(caught.value, otp)
    assert fresh(device).verify_token(otp) is True


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_gateway_error_after_sending_keeps_the_cooldown(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any, mode: str
) -> None:
    # a 502 from 2Factor's gateway may come after the SMS went out (outcome_unknown)
    settings.OTP_TWOFACTOR_MODE = mode
    emulator.inject("html", status=502, match="/SMS/", times=1)

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert caught.value.retry_allowed is False
    assert fresh(device).last_generated_timestamp is not None
    assert "cooldown" in fresh(device).generate_challenge()


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_no_delivery_wins_over_an_overridden_get_transport(
    device: TwoFactorSMSDevice, settings: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # what the docs suggest for a per-device transport: override get_transport()
    per_device = InMemoryTransport(load_entrypoints=False)
    monkeypatch.setattr(device, "get_transport", lambda: per_device)
    settings.OTP_TWOFACTOR_MODE = mode
    settings.OTP_TWOFACTOR_NO_DELIVERY = True

    assert device.generate_challenge() == "sent by SMS to +91******3210"

    assert per_device.outbox == []
    kept = no_delivery_transport()
    assert len(kept.outbox) == 1
    otp = kept.last_otp(NUMBER)
    assert otp is not None
    assert device.verify_token(otp) is True  # (remote mode: verified by the same transport)


def test_unexpected_error_log_redacts_registered_secrets(
    device: TwoFactorSMSDevice, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from twofactor_notify.redaction import forget_secret, register_secret

    secret = "registered-api-key-0123456789abcdef"
    register_secret(secret)
    try:

        class LeakyPlugin:
            @hookimpl
            def before_send(self, message: Message, transport: Transport) -> None:
                raise RuntimeError(f"could not reach https://2factor.in/API/V1/{secret}/SMS")

        settings.OTP_TWOFACTOR_TRANSPORT = InMemoryTransport(
            plugins=[LeakyPlugin()], load_entrypoints=False
        )
        with pytest.raises(ChallengeDeliveryError):
            device.generate_challenge()
    finally:
        forget_secret(secret)

    assert "RuntimeError" in caplog.text and "in before_send" in caplog.text  # traceback
    assert secret not in caplog.text


class QuotingPlugin:
    """A buggy before_send plugin whose exception text quotes the number and the code."""

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> None:
        raise ValueError(f"cannot send {getattr(message, 'otp', '')} to {message.to}")


def _two_factor_phone_device(user: Any) -> Any:
    from django_otp.util import random_hex
    from two_factor.plugins.phonenumber.models import PhoneDevice

    return PhoneDevice.objects.create(
        user=user, name="default", number=NUMBER, method="sms", key=random_hex(20)
    )


#: Each place that logs an unexpected send failure: the device itself, and the two_factor
#: views' send_challenge for devices that are not ours (two_factor's phone through the gateway).
UNEXPECTED_FAILURE_LOGGERS = ["device", "two_factor-gateway"]


@pytest.mark.parametrize("path", UNEXPECTED_FAILURE_LOGGERS)
def test_unexpected_error_is_logged_by_type_and_place_never_its_text(
    device: TwoFactorSMSDevice,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    from otp_twofactor.two_factor.views import send_challenge

    transport = InMemoryTransport(plugins=[QuotingPlugin()], load_entrypoints=False)
    settings.OTP_TWOFACTOR_TRANSPORT = transport
    if path == "device":
        with pytest.raises(ChallengeDeliveryError):
            device.generate_challenge()
    else:
        settings.TWO_FACTOR_SMS_GATEWAY = "django_twofactor.gateway.TwoFactorGateway"
        settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "PLUGINS": []}
        from django_twofactor.backends import get_backend

        get_backend().transport.plugin_manager.register(QuotingPlugin())
        assert send_challenge(_two_factor_phone_device(device.user)) is not None

    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "otp_twofactor"]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert "unexpected ValueError" in text and "in before_send" in text  # type and place
    assert "9876543210" not in text  # the number, in the exception's text
    assert not re.search(r"cannot send \d", text)  # the code (the stack shows source only)


@pytest.mark.parametrize("fault", ["reset_after", "truncated"])  # processed, answer lost
def test_a_failed_challenge_leaves_its_code_in_no_frame(
    emulator: Emulator, device: TwoFactorSMSDevice, settings: Any, fault: str
) -> None:
    """An error reporter records the frames of the error and of its cause: the code that
    may still arrive (and work) must be in none of them."""
    from tests.secret_scan import find_secrets, summarise

    settings.OTP_TWOFACTOR_MODE = "local"
    emulator.inject(fault, match="/SMS/", times=1)

    def challenge() -> ChallengeDeliveryError:
        try:
            device.generate_challenge()
        except ChallengeDeliveryError as exc:
            return exc
        raise AssertionError("the challenge did not fail")

    error = challenge()
    code = emulator.last_otp(NUMBER)
    assert code is not None  # the emulator processed it: the SMS may arrive
    findings = find_secrets(error, {"code": code}, stop=challenge.__code__)
    assert not findings, summarise(findings)
