"""A Ctrl-C that CPython turned into another error still ends the run as an interruption.

CPython (3.11 to 3.13 at least) replaces the ``KeyboardInterrupt`` a signal handler raised
with another error when the handler runs inside some of its own C code: a signal landing
while ``from module import name`` formats the message of a failed lookup (``ssl`` does such
an import at start-up, inside ``try``/``except ImportError``) surfaces as ``TypeError:
expected a message argument``. A CI run met it: the second Ctrl-C test of start-up got a
traceback and exit 1.

Where a signal lands cannot be chosen from outside, so the child process below makes the
moment happen: at a chosen point of a real run it sends itself the real signal, lets the
command line's own handler raise, and then raises the ``TypeError`` CPython would have left
in its place. The points: the imports of the command line (before any request) and the
request of every sending command (the command table is the one that must list every
command), SIGTERM too for ``send-bulk``, which handles it, and the sandbox's wait for Ctrl-C.
Each run must end as an interruption does: its exit code, one line on stderr, no traceback,
and nothing at the emulator when the line says nothing was sent.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.emulator import Emulator

from .processes import running

#: The child: ``python -c CHILD POINT SIGNUM ARGV...``.
CHILD = r"""
import os, sys, threading, time

point, signum = sys.argv[1], int(sys.argv[2])
sys.argv = ["twofactor-notify", *sys.argv[3:]]
fired = []


def interrupted_then_replaced():
    # The real signal to this process, handled by the command line's own handler, then
    # the error CPython leaves instead of the handler's KeyboardInterrupt.
    if fired:
        return
    fired.append(point)
    try:
        os.kill(os.getpid(), signum)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    raise TypeError("expected a message argument")


if point.startswith("import "):
    wanted = point.split()[1]

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == wanted:
                interrupted_then_replaced()
            return None

    sys.meta_path.insert(0, Finder)
elif point == "request":
    import requests.adapters

    def send(self, *args, **kwargs):
        interrupted_then_replaced()

    requests.adapters.HTTPAdapter.send = send
elif point == "waiting":
    wait = threading.Event.wait

    def waiting(self, timeout=None):
        if threading.current_thread() is threading.main_thread() and timeout == 0.5:
            interrupted_then_replaced()
        return wait(self, timeout)

    threading.Event.wait = waiting

from twofactor_notify.command_line import main

sys.exit(main())
"""

LINE = "twofactor-notify: error: interrupted"
NOTHING_SENT = "nothing was sent"
SIGINT, SIGTERM = int(signal.SIGINT), int(signal.SIGTERM)

#: The modules imported first: the command line's light entry, then the program.
IMPORTED_FIRST = ("twofactor_notify.cli", "twofactor_notify.cli.program")
#: (point, command, signal) for every run below.
RUNS = [
    *[(f"import {module}", "send-otp", SIGINT) for module in IMPORTED_FIRST],
    *[("request", command, SIGINT) for command in sorted(SENDING)],
    ("request", "send-bulk", SIGTERM),
]


def _run(
    point: str, signum: int, argv: list[str], emulator: Emulator
) -> tuple[int, str, str, list[str]]:
    child = [sys.executable, "-c", CHILD, point, str(signum), *argv]
    with running(child, emulator) as process:
        out, err = process.communicate(timeout=60)
    return process.returncode, out, err, emulator.messages()


@pytest.mark.parametrize(
    ("point", "command", "signum"),
    RUNS,
    ids=[f"{point}-{command}-{signal.Signals(num).name}" for point, command, num in RUNS],
)
def test_an_interruption_made_into_another_error_ends_as_the_interruption(
    twofactor_emulator: Emulator, tmp_path: Path, point: str, command: str, signum: int
) -> None:
    argv = [command, *SENDING[command](tmp_path)]
    result = tmp_path / "result.csv"
    if command == "send-bulk":
        argv += ["--result", str(result)]
    code, out, err, received = _run(point, signum, argv, twofactor_emulator)
    said = f"exit {code}:\n{out}{err}"
    assert code == 128 + signum, said
    assert "Traceback" not in out + err and "TypeError" not in out + err, said
    assert err.count("\n") == 1 and err.startswith(LINE), said
    if NOTHING_SENT in err:
        assert received == [], said
    if command == "send-bulk" and point == "request":
        # the row whose request was on its way is recorded as may-have-gone, never resent
        rows = result.read_text(encoding="utf-8").splitlines()
        assert len(rows) == 2 and ",unknown," in rows[1], rows


def test_the_sandbox_stops_as_on_ctrl_c(twofactor_emulator: Emulator) -> None:
    code, out, err, _ = _run("waiting", SIGINT, ["sandbox", "--port", "0"], twofactor_emulator)
    said = f"exit {code}:\n{out}{err}"
    assert code == 0, said
    assert out.rstrip().endswith("sandbox stopped"), said
    assert "Traceback" not in out + err, said
