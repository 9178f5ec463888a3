"""An error is one line on stderr: every command that talks to 2Factor, under every fault.

The commands are discovered as in the boundary test (every subcommand with ``--base-url``),
and run in-process through ``main(argv)`` under the core test's faults and under answers
whose text holds line breaks and other control characters (in a JSON ``Details``, in a page
that is not JSON). Whatever a server answered, a failed command writes exactly one line on
stderr (a command that reports per row, at most one), and no control character of an answer
reaches the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twofactor_notify.cli import main
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import one_line

from ..core.test_secrets_at_the_boundary import FAULTS, Fault
from .test_secrets_at_the_boundary import COMMANDS, _argv, aimed
from .test_secrets_at_the_boundary import csv_file as csv_file
from .test_secrets_at_the_boundary import env as env

#: Every character str.splitlines() breaks on, an escape sequence, a bidirectional override.
MULTILINE = "first\nsecond\rthird\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029 \x1b[2J\x07 \u202e gone"

#: Commands that report a failure per row on stdout (a failed row is not an error line).
PER_ROW = {"send-bulk"}

ANSWERS = (
    Fault(
        "multi-line Details",
        "status",
        (("status", 400), ("body", json.dumps({"Status": "Error", "Details": MULTILINE}))),
    ),
    Fault(
        "multi-line 503 Details",
        "status",
        (("status", 503), ("body", json.dumps({"Status": "Error", "Details": MULTILINE}))),
    ),
    Fault(
        "multi-line text page",
        "status",
        (("status", 502), ("body", MULTILINE), ("content_type", "text/plain")),
    ),
)


@pytest.mark.parametrize("fault", [*FAULTS, *ANSWERS], ids=lambda f: f.name)
@pytest.mark.parametrize("name", COMMANDS)
def test_a_failed_command_writes_one_line(
    env: Emulator,
    csv_file: Path,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
    name: str,
    fault: Fault,
) -> None:
    code = main([*aimed(fault, env, closed_port), "--timeout", "0.5", *_argv(name, csv_file)])
    env.clear_faults()
    out, err = capsys.readouterr()
    assert code != 0, f"{name} under {fault.name} succeeded: the fault did not reach it"
    if name in PER_ROW:
        assert len(err.splitlines()) <= 1, f"{name} under {fault.name} wrote:\n{err}"
    else:
        assert len(err.splitlines()) == 1, f"{name} under {fault.name} wrote:\n{err}"
    written = out + err
    # nothing but the line ends the program writes itself: no control character of an answer
    assert not [c for c in written if c != "\n" and one_line(c) != c], repr(written)
    for line in written.splitlines():  # an answer's text, when shown, stays on its line
        assert ("first" in line) == ("gone" in line), repr(written)


def test_the_echo_fault_is_one_line_from_the_installed_command(env: Emulator) -> None:
    """The command as a user runs it: its own process, the emulator's ``echo`` fault."""
    env.inject("echo", times=1)
    program = Path(sys.executable).with_name("twofactor-notify")
    done = subprocess.run(
        [str(program), "verify", "123456", "--phone", "9876543210"],
        env={**os.environ, "TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "\\r\\n" in done.stderr  # the echoed request's line breaks, kept as escapes
