"""The command line as a whole: help, usage errors, keys, error lines, global options."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable

import pytest

from tests.cli.conftest import Run
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def test_help_lists_every_command(run_cli: RunCLI) -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("demo", "sandbox", "send-otp", "verify", "send-sms", "send-bulk"):
        assert command in result.out


def test_version(run_cli: RunCLI) -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert "twofactor-notify" in result.out


def test_no_command_is_a_usage_error(run_cli: RunCLI) -> None:
    result = run_cli()
    assert result.code == 2
    assert "COMMAND" in result.err


def test_keys_are_not_accepted_as_arguments(run_cli: RunCLI) -> None:
    result = run_cli("send-otp", "9876543210", "--api-key", "abcdefgh-1234")
    assert result.code == 2
    assert "unrecognized arguments" in result.err


def test_missing_key_without_a_terminal_names_the_variable(
    run_cli: RunCLI, monkeypatch: pytest.MonkeyPatch, twofactor_emulator: Emulator
) -> None:
    monkeypatch.delenv("TWOFACTOR_API_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    result = run_cli("send-otp", "9876543210", "--base-url", twofactor_emulator.url)
    assert result.code == 2
    assert "TWOFACTOR_API_KEY" in result.err
    assert twofactor_emulator.messages() == []


def test_wrong_key_is_one_line_without_the_key(
    run_cli: RunCLI, cli_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "0000aaaa-1111-2222-3333-444455556666"
    monkeypatch.setenv("TWOFACTOR_API_KEY", wrong)
    result = run_cli("send-otp", "9876543210")
    assert result.code == 1
    assert result.err.startswith("twofactor-notify: error: ")
    assert "Invalid API Key" in result.err
    assert "TWOFACTOR_API_KEY" in result.err  # the hint
    assert wrong not in result.err + result.out
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_unreachable_service_is_a_clear_error(run_cli: RunCLI, cli_env: Emulator) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("--base-url", f"http://127.0.0.1:{port}", "send-otp", "9876543210")
    assert result.code == 1
    assert "could not connect" in result.err
    assert "--base-url" in result.err
    assert cli_env.api_key not in result.err
    assert "Traceback" not in result.err


def test_global_options_before_or_after_the_command(
    run_cli: RunCLI, cli_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWOFACTOR_BASE_URL")
    before = run_cli("--base-url", cli_env.url, "--timeout", "5", "send-otp", "9876543210")
    after = run_cli("send-otp", "9876543210", "--base-url", cli_env.url, "--timeout", "5")
    assert (before.code, after.code) == (0, 0)
    assert len(cli_env.messages("9876543210")) == 2


def test_bad_timeout_is_a_usage_error(run_cli: RunCLI) -> None:
    result = run_cli("--timeout", "0", "send-otp", "9876543210")
    assert result.code == 2
    assert "--timeout" in result.err


def test_verbose_logs_requests_with_the_key_redacted(run_cli: RunCLI, cli_env: Emulator) -> None:
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        result = run_cli("-v", "send-otp", "9876543210")
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    assert result.code == 0
    assert "/API/V1/" in result.err
    assert cli_env.api_key not in result.err
