"""``send-otp`` and ``verify`` against the emulator."""

from __future__ import annotations

from collections.abc import Callable

from tests.cli.conftest import Run
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def test_send_then_verify_by_session(run_cli: RunCLI, cli_env: Emulator) -> None:
    sent = run_cli("send-otp", "+91 98765 43210", "--json")
    assert sent.code == 0
    data = sent.json()
    assert isinstance(data, dict)
    assert data["to"] == "+919876543210"
    assert "otp" not in data
    otp = cli_env.last_otp("9876543210")
    assert otp is not None and len(otp) == 6

    verified = run_cli("verify", otp, "--session-id", data["session_id"])
    assert verified.code == 0
    assert "OTP matched" in verified.out
    assert otp not in verified.out


def test_human_output_masks_the_number_and_hides_the_otp(
    run_cli: RunCLI, cli_env: Emulator
) -> None:
    result = run_cli("send-otp", "9876543210")
    assert result.code == 0
    assert "+91******3210" in result.out
    assert "9876543210" not in result.out
    otp = cli_env.last_otp("9876543210")
    assert otp is not None and otp not in result.out


def test_wrong_code_exits_1(run_cli: RunCLI, cli_env: Emulator) -> None:
    session = run_cli("send-otp", "9876543210", "--json").json()
    assert isinstance(session, dict)
    otp = cli_env.last_otp("9876543210")
    assert otp is not None
    wrong = otp[:-1] + str((int(otp[-1]) + 1) % 10)
    result = run_cli("verify", wrong, "--session-id", session["session_id"], "--json")
    assert result.code == 1
    assert result.json() == {"matched": False, "outcome": "mismatch", "details": "OTP Mismatch"}


def test_verify_by_phone(run_cli: RunCLI, cli_env: Emulator) -> None:
    assert run_cli("send-otp", "9876543210", "--length", "4").code == 0
    otp = cli_env.last_otp("9876543210")
    assert otp is not None and len(otp) == 4
    result = run_cli("verify", otp, "--phone", "+919876543210")
    assert result.code == 0
    assert "OTP matched" in result.out


def test_include_otp_prints_the_returned_otp(run_cli: RunCLI, cli_env: Emulator) -> None:
    data = run_cli("send-otp", "9876543210", "--include-otp", "--json").json()
    assert isinstance(data, dict)
    assert data["otp"] == cli_env.last_otp("9876543210")


def test_custom_otp_is_sent_and_not_echoed(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-otp", "9876543210", "--otp", "482913", "--template", "Login")
    assert result.code == 0
    assert "482913" not in result.out
    assert cli_env.last_otp("9876543210") == "482913"
    assert cli_env.messages("9876543210")[0].template == "Login"


def test_otp_and_length_are_exclusive(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-otp", "9876543210", "--otp", "1234", "--length", "4")
    assert result.code == 2
    assert "not allowed with" in result.err
    assert cli_env.messages() == []


def test_invalid_phone_is_a_usage_error(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("send-otp", "12345")
    assert result.code == 2
    assert result.err.startswith("twofactor-notify: error: ")
    assert "phone number" in result.err
    assert "Traceback" not in result.err
    assert cli_env.messages() == []


def test_verify_needs_session_or_phone(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("verify", "123456")
    assert result.code == 2
    assert "--session-id" in result.err


def test_malformed_code_is_refused_before_any_request(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("verify", "../x", "--session-id", "cli-malformed-code")
    assert result.code == 2
    assert "4 to 6 digits" in result.err
    # (the request log is filled after each answer: look for this request, not for none)
    assert not any("cli-malformed-code" in r.path for r in cli_env.requests)


def test_a_number_2factor_sends_no_otp_to_is_a_usage_error(
    run_cli: RunCLI, cli_env: Emulator
) -> None:
    for argv in (
        ("send-otp", "+12025550143"),
        ("verify", "123456", "--phone", "+447911123456"),
    ):
        result = run_cli(*argv)
        assert result.code == 2, result
        assert "Indian numbers only" in result.err
    assert cli_env.requests == []
