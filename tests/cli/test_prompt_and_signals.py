"""The hidden API-key prompt and repeated signals, in real processes on a real terminal.

Every command that asks for a key (the sending commands of ``test_outcome_unknown``'s
table; ``demo`` without a key runs locally and asks nothing) is run on a pseudo-terminal:
Ctrl-D at the prompt is a missing key (exit 2), Ctrl-C there says nothing was sent (exit
130), never that a request may have taken effect. A second SIGINT right after the first
still ends the process with exit 130, not by the signal.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.emulator import Emulator

from .processes import running

PROMPT = b"API key (input hidden)"


def _on_a_terminal(argv: list[str], answer: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` on a pty; type ``answer`` at the key prompt; exit code and output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.execve(sys.executable, [sys.executable, "-m", "twofactor_notify", *argv], env)  # noqa: S606
    out = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
        if not answered and PROMPT in out:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@pytest.fixture
def env(twofactor_emulator: Emulator) -> dict[str, str]:
    values = {**os.environ, "TWOFACTOR_BASE_URL": twofactor_emulator.url}
    values.pop("TWOFACTOR_API_KEY", None)
    return values


@pytest.mark.parametrize("command", sorted(SENDING))
@pytest.mark.parametrize(
    ("answer", "code", "said"),
    [(b"\x04", 2, "no API key"), (b"\x03", 130, "nothing was sent")],
    ids=["ctrl-d", "ctrl-c"],
)
def test_the_key_prompt_ends_in_one_line(
    env: dict[str, str],
    twofactor_emulator: Emulator,
    tmp_path: Path,
    command: str,
    answer: bytes,
    code: int,
    said: str,
) -> None:
    exit_code, out = _on_a_terminal([command, *SENDING[command](tmp_path)], answer, env)
    if PROMPT.decode() not in out:
        assert command == "demo", out  # without a key the demo runs on its own emulator
        return
    assert exit_code == code, out
    assert said in out and "Traceback" not in out, out
    assert "may have taken effect" not in out, out
    assert twofactor_emulator.messages() == []


@pytest.mark.parametrize("command", ["send-otp", "send-sms", "send-bulk"])
def test_a_second_sigint_right_after_the_first_still_exits_130(
    twofactor_emulator: Emulator, tmp_path: Path, command: str
) -> None:
    twofactor_emulator.latency_ms = 3000.0
    argv = [sys.executable, "-m", "twofactor_notify", command, *SENDING[command](tmp_path)]
    with running(argv, twofactor_emulator) as process:
        deadline = time.monotonic() + 60
        while not twofactor_emulator.messages():  # the request waits for its answer
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        time.sleep(0.002)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
