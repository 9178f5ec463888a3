"""Every command that sends never invites a second send when the first one may have gone.

A timeout, a connection cut after the request, a gateway error: 2Factor may have acted. The
command then exits 3 (not 1, which scripts may retry) and says the outcome is unknown. The
commands are discovered from the parser, so a command added later must be listed here.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from twofactor_notify.cli import build_parser
from twofactor_notify.cli.errors import EXIT_OUTCOME_UNKNOWN
from twofactor_notify.emulator import Emulator

from .processes import running

RunCLI = Callable[..., Run]

# The commands that send through the configured 2Factor, with arguments for one send.
SENDING: dict[str, Callable[[Path], list[str]]] = {
    "send-otp": lambda tmp: ["9876543210"],
    "verify": lambda tmp: ["123456", "--phone", "9876543210"],
    "send-sms": lambda tmp: ["9876543210", "Your order has shipped", "--sender", "TFACTR"],
    "send-bulk": lambda tmp: [_bulk_file(tmp), "--sender", "TFACTR"],
    "demo": lambda tmp: ["--to", "9876543210", "--yes"],
}
# Commands that send nothing through it (the sandbox serves the emulator).
NOT_SENDING = {"sandbox"}

FAULTS = {
    "timeout": {"kind": "timeout", "seconds": 3},
    "reset-after": {"kind": "reset_after"},
    "gateway-502": {"kind": "status", "status": 502},
}
# Wording that tells a user to simply run it again.
_INVITATIONS = re.compile(r"try again|retry|run (it|the command) again(?! before)", re.IGNORECASE)


def _bulk_file(tmp: Path) -> str:
    path = tmp / "m.csv"
    path.write_text("phone,text\n9876543210,Your statement is ready\n", encoding="utf-8")
    return str(path)


def _commands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no commands")


def test_every_command_is_classified() -> None:
    assert _commands() == set(SENDING) | NOT_SENDING


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("command", sorted(SENDING))
def test_a_send_that_may_have_gone_exits_3_and_says_so(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, command: str, fault: str
) -> None:
    spec = dict(FAULTS[fault])
    cli_env.inject(str(spec.pop("kind")), **spec)
    result = run_cli(command, *SENDING[command](tmp_path), "--timeout", "0.5")
    said = result.out + result.err
    assert result.code == EXIT_OUTCOME_UNKNOWN, said
    assert "outcome unknown" in said.lower(), said
    assert not _INVITATIONS.search(said), said
    assert "Traceback" not in said


@pytest.mark.parametrize("command", sorted(SENDING))
def test_a_send_refused_before_it_went_exits_1(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, command: str
) -> None:
    cli_env.inject("status", status=400, body='{"Status": "Error", "Details": "Refused"}')
    result = run_cli(command, *SENDING[command](tmp_path))
    assert result.code == 1, result.out + result.err
    assert "outcome unknown" not in (result.out + result.err).lower()


@pytest.mark.parametrize("command", ["send-otp", "send-sms"])
def test_ctrl_c_during_a_send_does_not_invite_a_second_one(
    cli_env: Emulator, tmp_path: Path, command: str
) -> None:
    # a real SIGINT to a real process, while its request waits at the emulator
    cli_env.latency_ms = 3000.0
    argv = [sys.executable, "-m", "twofactor_notify", command, *SENDING[command](tmp_path)]
    with running(argv) as process:
        deadline = time.monotonic() + 60
        while not cli_env.messages():  # stored before the latency: the answer is pending
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the send never reached the emulator"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in err and "may have taken effect" in err
    assert not _INVITATIONS.search(out + err)
    assert "Traceback" not in err
