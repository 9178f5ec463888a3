"""A real Celery worker process, a real Redis broker, the emulator at 150 ms: kill -9 the
worker mid-stream, start another, and count what 2Factor received."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import SMSMessage

from .conftest import REDIS_URL

pytest.importorskip("celery")

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+919876543210"
#: Kombu gives an unacknowledged message back after this many seconds (and checks for them
#: every 10 s); short here so that the killed worker's tasks return within the test.
VISIBILITY_TIMEOUT = 4.0


class Workers:
    """Celery worker processes of one test, all on one queue; killed at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 16) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        log = (self.log_dir / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.background.celery_worker", "worker",
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


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(latency_ms=150, delivery_delay=3600) as emu:
        yield emu


@pytest.fixture
def workers(
    redis_client: Any, redis_prefix: str, emulator: Emulator, tmp_path: Path
) -> Iterator[Workers]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
        TFN_BROKER_URL=REDIS_URL,
        TFN_KEYPREFIX=redis_prefix + "broker:",
        TFN_QUEUE="tfn-" + uuid.uuid4().hex[:8],
        TFN_VISIBILITY=str(VISIBILITY_TIMEOUT),
        TFN_EMULATOR_URL=emulator.url,
        TFN_API_KEY=emulator.api_key,
        TFN_LEDGER_PREFIX=redis_prefix + "ledger:",
        TFN_LEASE="3",
    )
    group = Workers(env, tmp_path)
    yield group
    group.stop()


def producer(workers: Workers) -> Any:
    from .celery_worker import make_app

    env = workers.env
    return make_app(
        env["TFN_BROKER_URL"], env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_kill_9_mid_stream_sends_each_message_once_or_records_it_unknown(
    workers: Workers, emulator: Emulator, redis_client: Any
) -> None:
    from twofactor_notify.background.celery import enqueue

    total = 2000
    app = producer(workers)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    keys = [f"chaos-{i}" for i in range(total)]
    first = workers.start()
    for key in keys:
        message = SMSMessage(to=(PHONE,), text=f"message {key}", sender="TFACTR")
        enqueue(Envelope.wrap(message, key=key), app=app)
    wait_until(lambda: len(emulator.messages()) >= 300, 60, "the first worker to get going")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = len(emulator.messages())
    assert at_kill < total, "the worker was killed after the stream ended"
    workers.start()

    def drained() -> bool:
        pipe = redis_client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(workers.env["TFN_LEDGER_PREFIX"] + "k:" + key, "state")
        states = pipe.execute()
        return all(s in (b"sent", b"failed", b"unknown") for s in states)

    try:
        wait_until(drained, 80, "the queue to drain")
    except AssertionError:
        states = collections.Counter(
            redis_client.hget(workers.env["TFN_LEDGER_PREFIX"] + "k:" + k, "state") for k in keys
        )
        logs = "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted(workers.log_dir.glob("*.log"))
        )
        raise AssertionError(f"not drained: {dict(states)}\n{logs}") from None
    received = collections.Counter(m.text.removeprefix("message ") for m in emulator.messages())
    records = {key: ledger.get(key) for key in keys}
    twice = [k for k, n in received.items() if n > 1]
    unknown = {k for k, r in records.items() if r is not None and r.state is LedgerState.UNKNOWN}
    neither = [k for k in keys if received[k] != 1 and k not in unknown]
    assert twice == []
    assert neither == []
    assert set(received) <= set(keys)
    # everything recorded sent was received, with the id 2Factor gave
    ids = {m.id for m in emulator.messages()}
    for key, record in records.items():
        assert record is not None
        if record.state is LedgerState.SENT:
            assert received[key] == 1 and set(record.provider_ids) <= ids
    # the second worker did finish the stream, and the unknowns are only the kill's in-flight
    assert len(emulator.messages()) > at_kill
    assert len(unknown) <= 16 + 16  # concurrency plus prefetched, at most
    print(f"received before the kill: {at_kill}; unknown: {len(unknown)}")
