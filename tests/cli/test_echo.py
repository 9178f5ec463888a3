"""No command prints a number or an OTP that the server echoed back in an error.

Every sending command (discovered through ``test_outcome_unknown``'s table, which must
classify every command) runs against the emulator's ``echo`` fault, which repeats the
request (path, form, JSON) in the error's ``Details``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]
OTP = "482913"
# Arguments that make each command send the OTP above where it has one.
WITH_OTP: dict[str, list[str]] = {
    "send-otp": ["9876543210", "--otp", OTP],
    "verify": [OTP, "--phone", "9876543210"],
}


def _argv(command: str, tmp: Path) -> list[str]:
    return WITH_OTP.get(command) or SENDING[command](tmp)


@pytest.mark.parametrize("command", sorted(SENDING))
def test_an_echoed_number_or_otp_is_never_printed(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, command: str
) -> None:
    cli_env.inject("echo")
    result = run_cli(command, *_argv(command, tmp_path))
    said = result.out + result.err
    assert result.code != 0, said
    assert "upstream said" in said or command in ("send-bulk", "demo"), said
    for form in ("9876543210", "919876543210"):
        assert form not in said, said
    assert OTP not in said, said
    assert "Traceback" not in said


@pytest.mark.parametrize("command", ["send-otp", "verify"])
@pytest.mark.parametrize("status", [200, 400])
def test_an_otp_echoed_in_a_plain_refusal_is_hidden(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, command: str, status: int
) -> None:
    body = json.dumps({"Status": "Error", "Details": f"Code {OTP} not accepted for 9876543210"})
    cli_env.inject("status", status=status, body=body)
    result = run_cli(command, *_argv(command, tmp_path))
    said = result.out + result.err
    assert "not accepted" in said
    assert OTP not in said and "9876543210" not in said, said
