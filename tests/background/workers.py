"""Celery worker processes for the tests: started on one queue, killed at the end."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Kombu gives an unacknowledged message back after this many seconds; short here so that
#: a killed worker's tasks return within the test.
VISIBILITY_TIMEOUT = 4.0


class Workers:
    """Celery worker processes of one test, all on one queue; killed at the end."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, app: str = "tests.background.celery_worker"
    ) -> None:
        self.app = app
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 16) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log = (self.log_dir / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", self.app, "worker",
                "--pool", "threads", "--concurrency", str(concurrency), "--loglevel", "WARNING",
                "--without-heartbeat", "--without-gossip", "--without-mingle",
                "-Q", self.env["TFN_QUEUE"], "-n", f"tfn{n}-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def worker_env(
    redis_url: str, prefix: str, emulator_url: str, api_key: str, **extra: str
) -> dict[str, str]:
    """The environment of :mod:`tests.background.celery_worker` for one test's keys."""
    import os

    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
        TFN_BROKER_URL=redis_url,
        TFN_KEYPREFIX=prefix + "broker:",
        TFN_QUEUE="tfn-" + uuid.uuid4().hex[:8],
        TFN_VISIBILITY=str(VISIBILITY_TIMEOUT),
        TFN_EMULATOR_URL=emulator_url,
        TFN_API_KEY=api_key,
        TFN_LEDGER_PREFIX=prefix + "ledger:",
        TFN_LEASE="3",
        **extra,
    )
