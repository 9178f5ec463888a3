"""Sending through the extension: suppression, record_messages, signals, the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_twofactor import TwoFactor, get_state
from flask_twofactor.signals import message_failed, message_sent
from flask_twofactor.testing import last_otp, record_messages
from twofactor_notify import hookimpl
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import SendRefusedError
from twofactor_notify.models import BulkMessage, OTPMessage, SMSMessage, VerificationOutcome

from .conftest import E164, PHONE, AppFactory


class Refuser:
    """A before_send plugin refusing every message."""

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> None:
        raise SendRefusedError("refused by test", reason="test")


def test_suppressed_in_testing_and_verify_works(app: Flask, twofactor: TwoFactor):
    with app.app_context():
        sent = twofactor.send_otp(PHONE)
        code = last_otp(PHONE)
        assert code is not None and sent.otp is None
        assert not twofactor.verify_otp("000000" if code != "000000" else "111111", phone=PHONE)
        result = twofactor.verify_otp(code, session_id=sent.session_id)
        assert result and result.outcome is VerificationOutcome.MATCHED
        # an OTP matches once
        assert twofactor.verify_otp(code, session_id=sent.session_id).outcome is not (
            VerificationOutcome.MATCHED
        )


def test_suppress_false_in_testing_uses_the_configured_backend(make_app: AppFactory):
    app = make_app(TWOFACTOR_SUPPRESS=False, TWOFACTOR_BACKEND="null")
    assert not get_state(app).suppressed
    with app.app_context(), pytest.raises(RuntimeError, match="in-memory"):
        last_otp(PHONE)


def test_record_messages_collects_every_path(app: Flask, twofactor: TwoFactor):
    with app.app_context():
        with twofactor.record_messages() as outbox:
            twofactor.send_otp(PHONE, template="LOGIN")
            twofactor.send_sms([PHONE, "9876543211"], "Your order shipped")
            result = twofactor.send_bulk(
                [BulkMessage(to=E164, text=f"n{i}", sender="TFACTR") for i in range(3)]
            )
            get_state().transport.send_sms(PHONE, "direct through the transport")
        twofactor.send_sms(PHONE, "after the block")
    assert result.ok and len(result.accepted) == 3
    assert [type(m).__name__ for m in outbox] == [
        "OTPMessage",
        "SMSMessage",
        "BulkBatch",
        "SMSMessage",
    ]
    otp, sms = outbox[0], outbox[1]
    assert isinstance(otp, OTPMessage) and otp.to == E164 and otp.template == "LOGIN"
    assert isinstance(sms, SMSMessage) and sms.to == (E164, "+919876543211")
    assert sms.sender == "TFACTR"


def test_record_messages_is_per_app(make_app: AppFactory, twofactor: TwoFactor):
    first, second = make_app(), make_app()
    with record_messages(first) as outbox:
        with second.app_context():
            twofactor.send_sms(PHONE, "to the second app")
        with first.app_context():
            twofactor.send_sms(PHONE, "to the first app")
    assert [m.text for m in outbox] == ["to the first app"]  # type: ignore[union-attr]


def test_signals_sent_and_failed(make_app: AppFactory, twofactor: TwoFactor):
    app = make_app(TWOFACTOR_PLUGINS=[])
    refusing = make_app(TWOFACTOR_PLUGINS=[Refuser()])
    events: list[tuple[str, Flask, Any]] = []

    def on_sent(sender: Flask, message: Any, receipt: Any) -> None:
        events.append(("sent", sender, receipt))

    def on_failed(sender: Flask, message: Any, error: Any) -> None:
        events.append(("failed", sender, error))

    with message_sent.connected_to(on_sent), message_failed.connected_to(on_failed):
        with app.app_context():
            receipt = twofactor.send_sms(PHONE, "hello")
        with refusing.app_context(), pytest.raises(SendRefusedError):
            twofactor.send_sms(PHONE, "hello")
    assert events[0] == ("sent", app, receipt)
    assert events[1][:2] == ("failed", refusing)
    assert isinstance(events[1][2], SendRefusedError)
    assert len(events) == 2


def test_send_and_verify_through_the_emulator(
    emulator_app: Flask, twofactor: TwoFactor, twofactor_emulator: Emulator
):
    with emulator_app.app_context(), twofactor.record_messages() as outbox:
        sent = twofactor.send_otp(PHONE)
        code = twofactor_emulator.last_otp(PHONE)
        assert code is not None
        wrong = "123456" if code != "123456" else "654321"
        assert twofactor.verify_otp(wrong, session_id=sent.session_id).outcome is (
            VerificationOutcome.MISMATCH
        )
        assert twofactor.verify_otp(code, session_id=sent.session_id)
        sms = twofactor.send_sms(PHONE, "Your parcel is out for delivery")
    assert len(outbox) == 2
    assert [m.text for m in twofactor_emulator.messages(PHONE) if m.text][-1] == (
        "Your parcel is out for delivery"
    )
    assert sms.message_id
