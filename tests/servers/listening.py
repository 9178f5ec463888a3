"""Web servers started as real processes by these tests: a free port, gunicorn's command
line, and the wait until the server takes connections."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The repository: the servers' working directory, from which ``tests.settings`` imports.
ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "free_port", "gunicorn", "wait_until_listening"]


def free_port() -> int:
    """A local TCP port free a moment ago (bound, then released) for a server to take."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn(port: int, app: str, *options: str) -> list[str]:
    """The command line of a gunicorn serving ``app`` on ``port``, with ``options``."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *options, app]


def wait_until_listening(
    port: int, process: subprocess.Popen[Any] | None, error: Callable[[], str]
) -> None:
    """Return once ``port`` takes a connection. When ``process`` ended first, or after 30 s,
    raise :class:`RuntimeError` with ``error()`` (what the server wrote on stderr)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(error()) from None
            time.sleep(0.1)
