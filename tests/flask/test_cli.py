"""``flask twofactor`` commands through app.test_cli_runner()."""

from __future__ import annotations

import json

from flask import Flask

from flask_twofactor import get_state
from flask_twofactor.cli import OTP_CODE_ENV
from flask_twofactor.testing import last_otp, record_messages
from twofactor_notify.emulator import Emulator
from twofactor_notify.transport import ConsoleTransport

from .conftest import E164, PHONE, AppFactory


def test_send_otp_then_verify_with_a_hidden_prompt(app: Flask):
    runner = app.test_cli_runner()
    sent = runner.invoke(args=["twofactor", "send-otp", PHONE, "--json"])
    assert sent.exit_code == 0, sent.output
    data = json.loads(sent.output)
    assert data["ok"] is True and data["to"] == E164
    with app.app_context():
        code = last_otp(PHONE)
    assert code is not None and code not in sent.output

    verified = runner.invoke(
        args=["twofactor", "verify", "--session-id", data["session_id"]], input=code + "\n"
    )
    assert verified.exit_code == 0, verified.output
    assert "matched" in verified.output
    assert code not in verified.output  # the prompt does not echo the code


def test_verify_reads_the_code_from_the_environment(app: Flask):
    runner = app.test_cli_runner()
    with app.app_context():
        get_state().transport.send_otp(PHONE)
        code = last_otp(PHONE)
    assert code is not None
    wrong = "000000" if code != "000000" else "111111"
    refused = runner.invoke(
        args=["twofactor", "verify", "--phone", PHONE, "--json"], env={OTP_CODE_ENV: wrong}
    )
    assert refused.exit_code == 1
    assert json.loads(refused.output) == {
        "ok": False,
        "outcome": "mismatch",
        "details": "OTP Mismatch",
    }
    ok = runner.invoke(args=["twofactor", "verify", "--phone", PHONE], env={OTP_CODE_ENV: code})
    assert ok.exit_code == 0 and code not in ok.output


def test_verify_needs_exactly_one_target(app: Flask):
    result = app.test_cli_runner().invoke(args=["twofactor", "verify"])
    assert result.exit_code == 2
    assert "exactly one" in result.output


def test_send_sms_and_errors(app: Flask):
    runner = app.test_cli_runner()
    with record_messages(app) as outbox:
        result = runner.invoke(
            args=["twofactor", "send-sms", PHONE, "9876543211", "--text", "Hi there", "--json"]
        )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["to"] == [E164, "+919876543211"] and data["message_id"]
    assert len(outbox) == 1

    bad = runner.invoke(args=["twofactor", "send-sms", "12", "--text", "Hi"])
    assert bad.exit_code == 1
    assert "InvalidPhoneNumberError" in bad.output
    bad_json = runner.invoke(args=["twofactor", "send-otp", "12", "--json"])
    assert bad_json.exit_code == 1
    assert json.loads(bad_json.output)["error"] == "InvalidPhoneNumberError"


def test_cli_against_the_emulator(emulator_app: Flask, twofactor_emulator: Emulator):
    runner = emulator_app.test_cli_runner()
    sent = runner.invoke(args=["twofactor", "send-otp", PHONE, "--json"])
    assert sent.exit_code == 0, sent.output
    session_id = json.loads(sent.output)["session_id"]
    code = twofactor_emulator.last_otp(PHONE)
    assert code is not None
    ok = runner.invoke(
        args=["twofactor", "verify", "--session-id", session_id, "--json"],
        env={OTP_CODE_ENV: code},
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["outcome"] == "matched"
    assert twofactor_emulator.api_key not in sent.output + ok.output


def test_json_output_stays_pure_with_the_console_backend(make_app: AppFactory):
    app = make_app(TWOFACTOR_BACKEND="console", TWOFACTOR_SUPPRESS=False)
    transport = get_state(app).transport
    assert isinstance(transport, ConsoleTransport)
    runner = app.test_cli_runner()

    sent = runner.invoke(args=["twofactor", "send-otp", PHONE, "--json"])
    assert sent.exit_code == 0, sent.output
    data = json.loads(sent.stdout)  # the whole of stdout is one JSON object
    assert data["ok"] is True and data["to"] == E164
    assert "[twofactor] OTP to +919876543210" in sent.stderr  # the console line

    sms = runner.invoke(args=["twofactor", "send-sms", PHONE, "--text", "Hello", "--json"])
    assert sms.exit_code == 0, sms.output
    assert json.loads(sms.stdout)["to"] == [E164]
    assert "Hello" in sms.stderr

    with app.app_context():
        code = last_otp(PHONE)
    assert code is not None
    verified = runner.invoke(
        args=["twofactor", "verify", "--session-id", data["session_id"], "--json"],
        env={OTP_CODE_ENV: code},
    )
    assert json.loads(verified.stdout)["outcome"] == "matched"
    assert transport.stream is None  # the app's console transport is left as it was
