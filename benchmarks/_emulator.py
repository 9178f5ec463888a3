"""The emulator in a separate process, so that its work does not share our GIL.

``python -m twofactor_notify.emulator`` prints its URL on its first line; we read it, use the
emulator, then stop it with SIGTERM (it shuts down cleanly on that signal).
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import subprocess
import sys
import time
from types import TracebackType

__all__ = ["EmulatorProcess"]

_URL = re.compile(r"running at (http://\S+)")


class EmulatorProcess:
    """Run ``python -m twofactor_notify.emulator --port 0 --latency MS`` as a child process.

    >>> with EmulatorProcess(latency_ms=150) as emu:
    ...     client = TwoFactorClient(emu.api_key, base_url=emu.url)
    """

    def __init__(self, *, latency_ms: float = 0.0, start_timeout: float = 20.0) -> None:
        self.latency_ms = latency_ms
        self.start_timeout = start_timeout
        self.api_key = "bench-" + secrets.token_hex(12)
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> EmulatorProcess:
        """Start the child and wait until it prints its URL."""
        env = dict(os.environ, TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twofactor_notify.emulator",
                "--port",
                "0",
                "--latency",
                str(self.latency_ms),
                "--api-key",
                self.api_key,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            match = _URL.search(line)
            if match:
                self.url = match.group(1)
                return self
        self.stop()
        raise RuntimeError("the emulator process did not start (no URL printed)")

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the child has used so far (from /proc)."""
        assert self._proc is not None
        try:
            with open(f"/proc/{self._proc.pid}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mb(self) -> float:
        """The child's current resident set size, MB."""
        assert self._proc is not None
        try:
            with open(f"/proc/{self._proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def stop(self) -> None:
        """SIGTERM the child and wait for it (kill it if it lingers)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def self_cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
