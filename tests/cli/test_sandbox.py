"""``sandbox``: the emulator as a foreground process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .processes import reaped

ROOT = Path(__file__).resolve().parents[2]


def _read_banner(process: subprocess.Popen[str]) -> dict[str, str]:
    """Read lines until "Press Ctrl-C"; return the exported variables and the URL."""
    assert process.stdout is not None
    found: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := re.match(r"2Factor sandbox running at (\S+)", line):
            found["url"] = match.group(1)
        if match := re.match(r"\s+export (\w+)=(\S+)", line):
            found[match.group(1)] = match.group(2)
        if line.startswith("Press Ctrl-C"):
            return found
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"no banner; got {found}; stderr: {err}")


def _start(*extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFACTOR_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.Popen(
        [sys.executable, "-m", "twofactor_notify", "sandbox", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def test_sandbox_serves_the_api_until_terminated() -> None:
    # port 0: the emulator binds a free port itself (no race with other tests)
    with reaped(_start("--port", "0", "--latency", "1")) as process:
        banner = _read_banner(process)
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*", banner["url"])
        assert banner["TWOFACTOR_BASE_URL"] == banner["url"]
        key = banner["TWOFACTOR_API_KEY"]
        answer = requests.get(f"{banner['url']}/API/V1/{key}/SMS/9876543210/AUTOGEN", timeout=5)
        assert answer.status_code == 200
        assert answer.json()["Status"] == "Success"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "sandbox stopped" in out
    assert "Traceback" not in err


def test_sandbox_stops_cleanly_on_ctrl_c() -> None:
    with reaped(_start("--port", "0")) as process:
        _read_banner(process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "sandbox stopped" in out
    assert "Traceback" not in err


def test_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _start("--port", str(port))
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert err.startswith("twofactor-notify: error: cannot listen on 127.0.0.1:")
    assert "Traceback" not in err
