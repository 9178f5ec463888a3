"""``send-sms`` against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tests.cli.conftest import Run
from twofactor_notify.emulator import Emulator
from twofactor_notify.validation import IST

RunCLI = Callable[..., Run]


def test_transactional_sms_to_two_numbers(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli(
        "send-sms",
        "9876543210, +91 91234 56780",
        "Your order has shipped",
        "--sender",
        "TFACTR",
        "--json",
    )
    assert result.code == 0
    data = result.json()
    assert isinstance(data, dict)
    assert data["to"] == ["+919876543210", "+919123456780"]
    assert data["message_id"]
    for phone in ("9876543210", "9123456780"):
        [record] = cli_env.messages(phone)
        assert record.text == "Your order has shipped"
        assert record.sender == "TFACTR"


def test_promotional_scheduled_sms(run_cli: RunCLI, cli_env: Emulator) -> None:
    when = (datetime.now(IST) + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    result = run_cli(
        "send-sms", "9876543210", "Sale starts today", "--sender", "TFACTR", "--promo",
        "--schedule", when,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "promotional SMS accepted for +91******3210" in result.out
    assert f"scheduled   {when}" in result.out
    [record] = cli_env.messages("9876543210")
    assert record.text == "Sale starts today"
    assert record.kind == "promotional"


def test_transactional_sms_with_dlt_ids(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli(
        "send-sms", "9876543210", "Your OTP login is enabled", "--sender", "TFACTR",
        "--pe-id", "1101234567890", "--ct-id", "1107123456789",
    )  # fmt: skip
    assert result.code == 0, result.err
    [record] = cli_env.messages("9876543210")
    assert record.kind == "transactional"


def test_dlt_ids_are_transactional_only(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli(
        "send-sms", "9876543210", "Sale", "--sender", "TFACTR", "--promo", "--pe-id", "11",
    )  # fmt: skip
    assert result.code == 2
    assert "transactional-only" in result.err
    assert cli_env.messages() == []


def test_sender_is_required(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-sms", "9876543210", "hello")
    assert result.code == 2
    assert "--sender" in result.err


def test_malformed_schedule_is_a_usage_error(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-sms", "9876543210", "hi", "--sender", "TFACTR", "--schedule", "soon")
    assert result.code == 2
    assert "YYYY-MM-DD HH:MM" in result.err
    assert cli_env.messages() == []


def test_schedule_too_soon_is_refused_locally(run_cli: RunCLI, cli_env: Emulator) -> None:
    when = datetime.now(IST).strftime("%Y-%m-%d %H:%M")
    result = run_cli("send-sms", "9876543210", "hi", "--sender", "TFACTR", "--schedule", when)
    assert result.code == 2
    assert "5 minutes" in result.err
    assert cli_env.messages() == []


def test_bad_sender_names_the_field(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-sms", "9876543210", "hi", "--sender", "TOO-LONG-ID")
    assert result.code == 2
    assert "sender" in result.err
    assert cli_env.messages() == []
