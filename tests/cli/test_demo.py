"""``demo``: the embedded run (in-process and as ``python -m``) and the real-service guard."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]

ROOT = Path(__file__).resolve().parents[2]
# The emulator's API keys and OTP session ids are UUIDs; the demo must print neither.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _assert_summary(out: str) -> None:
    assert "on the local 2Factor emulator" in out
    assert "✓ OTP sent to +91******3210" in out
    assert "✓ wrong code refused" in out
    assert "✓ right code verified" in out
    assert "✓ 4 accepted" in out
    assert "✓ message 3 rejected" in out
    assert "✓ 5 of 5 reports arrived" in out
    assert out.count("DELIVERED") == 5
    assert "every step behaved as expected" in out
    assert "✗" not in out
    assert "9876543210" not in out  # numbers are masked
    assert not UUID.search(out)


def test_demo_in_process(run_cli: RunCLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWOFACTOR_API_KEY", raising=False)
    result = run_cli("demo")
    assert result.code == 0, result.err
    _assert_summary(result.out)
    assert result.err == ""


def _run_demo_process(encoding: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFACTOR_")}
    env.update(PYTHONIOENCODING=encoding, TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [sys.executable, "-m", "twofactor_notify", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding=encoding,
        timeout=60,
        check=False,
    )


def test_demo_as_a_process() -> None:
    done = _run_demo_process("utf-8")
    assert done.returncode == 0, done.stderr
    _assert_summary(done.stdout)
    assert not UUID.search(done.stderr)
    assert "Traceback" not in done.stderr


def test_demo_on_an_ascii_terminal_uses_ascii_marks() -> None:
    done = _run_demo_process("ascii")
    assert done.returncode == 0, done.stderr
    assert "+ right code verified" in done.stdout
    assert "+ 5 of 5 reports arrived" in done.stdout
    assert not UUID.search(done.stdout)


# --------------------------------------------------------------------------- real service


def test_real_service_refuses_without_yes_or_terminal(run_cli: RunCLI, cli_env: Emulator) -> None:
    # TWOFACTOR_API_KEY is set (real-service mode) and stdin is not a terminal; the base
    # URL is the emulator's, so even a bug could not reach the internet.
    result = run_cli("demo", "--to", "+91 98765 43210", "--base-url", cli_env.url)
    assert result.code == 2
    assert "--yes" in result.err
    assert cli_env.messages() == []
    assert cli_env.api_key not in result.out + result.err


def test_real_service_needs_to(run_cli: RunCLI, cli_env: Emulator) -> None:
    result = run_cli("demo", "--yes", "--base-url", cli_env.url)
    assert result.code == 2
    assert "--to PHONE" in result.err
    assert cli_env.messages() == []


@pytest.fixture
def terminal_stdin(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """stdin on a pseudo-terminal; yields the fd to type into."""
    controller, terminal = os.openpty()
    stdin = open(terminal, encoding="utf-8")  # noqa: SIM115 - closed below
    monkeypatch.setattr("sys.stdin", stdin)
    try:
        yield controller
    finally:
        stdin.close()
        os.close(controller)


def test_real_service_asks_on_a_terminal_and_no_sends_nothing(
    run_cli: RunCLI, cli_env: Emulator, terminal_stdin: int
) -> None:
    os.write(terminal_stdin, b"n\n")
    result = run_cli("demo", "--to", "9876543210", "--base-url", cli_env.url)
    assert result.code == 1
    assert "This will send real SMS" in result.out
    assert "Nothing sent." in result.out
    assert cli_env.messages() == []


def test_real_service_with_yes_runs_against_the_given_base_url(
    run_cli: RunCLI, cli_env: Emulator
) -> None:
    result = run_cli(
        "demo", "--yes", "--to", "9876543210", "--base-url", cli_env.url,
        "--sender", "TFACTR", "--text", "Your order has shipped",
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    assert "✓ right code verified" in result.out
    assert "✓ 1 accepted" in result.out
    assert "✓ message 2 rejected" in result.out
    assert "Delivery reports skipped" in result.out
    assert {m.kind for m in cli_env.messages("9876543210")} == {"otp", "transactional", "bulk"}
    otp = cli_env.last_otp("9876543210")
    assert otp is not None and otp not in result.out
    assert cli_env.api_key not in result.out + result.err


def test_local_flag_uses_the_emulator_even_with_a_key(
    run_cli: RunCLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFACTOR_API_KEY", "0000aaaa-1111-2222-3333-444455556666")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    result = run_cli("demo", "--local")
    assert result.code == 0, result.err
    _assert_summary(result.out)
