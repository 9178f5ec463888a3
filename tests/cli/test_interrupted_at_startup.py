"""Ctrl-C at any moment of a run, its start-up included, is one line and exit 130.

The command line spends most of a second importing what it needs (requests, cryptography,
the emulator) before it reads its arguments. A real SIGINT is sent to a real process, each
of the two ways the command is started (the installed ``twofactor-notify`` script and
``python -m twofactor_notify``), at delays from 0 to 1.5 s after it was started: the run is
against an emulator that answers after 5 s, so every delay falls before the command's end.

Before the interpreter has started running any code of the program, Python's own start-up
is what a signal meets: the system ends the process before Python has installed its
SIGINT handler (a death by SIGINT, with no output at all), or Python reports that importing
``site`` (or setting up the standard streams) failed. Those outcomes are recognised as
such, as is a traceback through the script's first lines and the tiny modules it imports
before :func:`twofactor_notify.command_line.main` runs (:data:`LIGHT`, which must import
nothing: a test below). Every other outcome must be the
command's: exit 130, exactly one line on stderr, no traceback, and nothing sent when the
line says so. At least one of the delays must meet the program before its request went
(the line says nothing was sent): the second of imports is the moment under test.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twofactor_notify.emulator import Emulator

from .processes import running

DELAYS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.2, 1.5]
ENTRY_POINTS = {
    "script": [str(Path(sys.executable).with_name("twofactor-notify"))],
    "python -m": [sys.executable, "-m", "twofactor_notify"],
}
ARGV = ["send-otp", "9876543210"]
LINE = "twofactor-notify: error: interrupted"
NOTHING_SENT = "nothing was sent"


@pytest.fixture
def slow_emulator(twofactor_emulator: Emulator) -> Emulator:
    twofactor_emulator.latency_ms = 5000.0  # the fixture puts it back after the test
    return twofactor_emulator


def _interrupt(
    argv: list[str], emulator: Emulator, delay: float, signals: int
) -> tuple[int, str, str]:
    with running([*argv, *ARGV], emulator) as process:
        time.sleep(delay)
        for _ in range(signals):
            process.send_signal(signal.SIGINT)
            time.sleep(0.002)
        out, err = process.communicate(timeout=60)
    return process.returncode, out, err


#: The modules a signal may meet before ``main`` runs: the package and the command line's
#: entry module, which import next to nothing (see the test below that they stay so).
LIGHT = (
    "twofactor_notify/__init__.py",
    "twofactor_notify/__main__.py",
    "twofactor_notify/command_line.py",
)
_OUR_FILE = re.compile(r'File "[^"]*?(twofactor_notify/[^"]+)", line \d+, in (\S+)')


def _before_the_program(code: int, out: str, err: str) -> bool:
    """The signal met Python's own start-up (the interpreter, ``site``, ``runpy``, the
    script's first lines), before ``main`` ran: a death by SIGINT with no output at all,
    Python's report that importing ``site`` failed, or a traceback none of whose frames is
    in the program (only module-level lines of :data:`LIGHT`)."""
    if code == -signal.SIGINT and not out and not err:
        return True  # before Python had installed its SIGINT handler
    if err.startswith(("Fatal Python error: init_import_site", "Fatal Python error: init_sys")):
        return True  # importing site, or setting up sys.stdin/stdout/stderr
    if "KeyboardInterrupt" not in err:
        return False
    frames = _OUR_FILE.findall(err)
    return all(path in LIGHT and function == "<module>" for path, function in frames)


def test_the_entry_modules_import_next_to_nothing() -> None:
    code = (
        "import sys; before = set(sys.modules)\n"
        "import twofactor_notify.command_line, twofactor_notify.__main__\n"
        "heavy = {'requests', 'urllib3', 'cryptography', 'twofactor_notify.cli',"
        " 'twofactor_notify.client', 'argparse', 'typing', 'signal', 'threading'}\n"
        # beyond the named ones: anything new that is not the standard library's (an
        # editable install has importlib and warnings loaded already, a wheel may not)
        "heavy |= {n for n in set(sys.modules) - before"
        " if not n.startswith('twofactor') and n.split('.')[0] not in sys.stdlib_module_names}\n"
        "ours = {m.__file__.replace(chr(92), '/') for n, m in sys.modules.items()"
        " if n.startswith('twofactor_notify')}\n"
        "print(sorted(heavy & (set(sys.modules) - before)) or '', *sorted(ours), sep='\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = result.stdout.splitlines()
    assert loaded[0] == "", loaded
    assert sorted(path.split("twofactor_notify/", 1)[1] for path in loaded[1:]) == sorted(
        name.split("twofactor_notify/", 1)[1] for name in LIGHT
    )


@pytest.mark.parametrize("signals", [1, 2], ids=["once", "twice"])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_ctrl_c_at_any_moment_of_startup_is_one_line_and_exit_130(
    slow_emulator: Emulator, entry: str, signals: int
) -> None:
    argv = ENTRY_POINTS[entry]
    assert Path(argv[0]).is_file(), f"{argv[0]} is not installed"
    program_met: dict[float, str] = {}
    for delay in DELAYS:
        slow_emulator.reset()
        code, out, err = _interrupt(argv, slow_emulator, delay, signals)
        if _before_the_program(code, out, err):
            continue  # each process starts at its own pace on a loaded machine
        said = f"{delay}s, exit {code}:\n{out}{err}"
        assert code == 130, said
        assert "Traceback" not in out + err, said
        assert err.count("\n") == 1 and err.startswith(LINE), said
        if NOTHING_SENT in err:
            assert slow_emulator.messages() == [], said
        program_met[delay] = err
    # the signals met the program before it made its request: while it was importing
    assert any(NOTHING_SENT in line for line in program_met.values()), program_met


def _start_ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_process_started_ignoring_sigint_keeps_ignoring_it(
    twofactor_emulator: Emulator,
) -> None:
    """A background job (``cmd &`` in a script, ``nohup``) starts with SIGINT ignored, and
    a Ctrl-C meant for its terminal's foreground must not stop it."""
    twofactor_emulator.latency_ms = 1000.0
    argv = [*ENTRY_POINTS["script"], *ARGV]
    with running(argv, twofactor_emulator, preexec_fn=_start_ignoring_sigint) as process:
        for delay in (0.2, 0.3, 0.5):  # while it loads, and later
            time.sleep(delay)
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert len(twofactor_emulator.messages()) == 1
