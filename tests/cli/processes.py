"""The command line as a real process, for the tests that signal it or time its start-up."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from typing import Any

from twofactor_notify.emulator import Emulator

__all__ = ["reaped", "running"]


@contextlib.contextmanager
def reaped(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """``process``, killed and waited for on the way out if it still runs (a failed
    assertion, a timeout), so that no test leaves a command running behind it."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def running(
    argv: list[str], emulator: Emulator | None = None, **popen: Any
) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """``argv`` started with no stdin and its stdout and stderr read as text, :func:`reaped`;
    with ``emulator``, its key and URL are the process's ``TWOFACTOR_API_KEY`` and
    ``TWOFACTOR_BASE_URL`` (else it inherits this process's environment)."""
    if emulator is not None:
        popen["env"] = {
            **os.environ,
            "TWOFACTOR_API_KEY": emulator.api_key,
            "TWOFACTOR_BASE_URL": emulator.url,
        }
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    return reaped(process)
