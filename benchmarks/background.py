"""Target 8: Celery workers under one account-wide throttle.

20,000 SMS (smoke: 150) are queued through a real Redis broker and sent by 1, 2 and 4 Celery
worker processes (threads pool, :data:`CONCURRENCY` each) to the emulator, which answers
after 150 ms. Each message goes through the whole worker path: ledger claim, throttle,
transport, ledger outcome.

* Without a limit: how the aggregate rate grows with N; one worker's rate is the baseline.
* With the account limit (200/s, shared through Redis): the aggregate rate against
  ``min(N x one worker's rate, 200)``; target within 5 %. The busiest second (the most
  requests the emulator received in any one-second window) shows the limit holds at every
  moment, not only on average.

The rate is ``(n - 1) / (last - first)`` over the emulator's receipt times. Needs Redis
(``TWOFACTOR_REDIS_URL``); without it the table says so.
"""

from __future__ import annotations

import bisect
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

from ._emulator import EmulatorProcess
from ._support import Row, Table

NAME = "background"
TITLE = "8. Background sending: Celery workers, one account-wide throttle (150 ms latency)"

LIMIT = 200.0
CONCURRENCY = 12
ROOT = Path(__file__).resolve().parents[1]


def _emulator_times(emu: EmulatorProcess) -> list[float]:
    request = urllib.request.Request(emu.url + "/__emulator__/messages")
    with urllib.request.urlopen(request, timeout=60) as answer:
        records = json.load(answer)["messages"]
    return sorted(datetime.fromisoformat(r["time"]).timestamp() for r in records)


def _reset(emu: EmulatorProcess) -> None:
    request = urllib.request.Request(
        emu.url + "/__emulator__/reset",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).close()


def _busiest_second(times: list[float]) -> int:
    return max(
        (bisect.bisect_right(times, t + 1.0 - 1e-9) - i for i, t in enumerate(times)), default=0
    )


def _start_worker(env: dict[str, str], n: int, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "benchmarks._celery_app", "worker"]
    command += ["--pool", "threads", "--concurrency", str(CONCURRENCY), "--loglevel", "INFO"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", "bench"]
    command += ["-n", f"bench{n}-{prefix[10:18]}@%h"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def _run(
    redis_url: str, emu: EmulatorProcess, workers: int, messages: int, rate: float
) -> tuple[float, int]:
    """Send ``messages`` with ``workers`` processes; (aggregate rate, busiest second)."""
    import redis

    from celery_twofactor import enqueue
    from twofactor_notify.background import Envelope
    from twofactor_notify.models import SMSMessage

    from ._celery_app import make_app

    _reset(emu)
    prefix = f"tfn-bench-{uuid.uuid4().hex[:8]}:"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
        TFN_BROKER_URL=redis_url,
        TFN_KEYPREFIX=prefix + "broker:",
        TFN_QUEUE="bench",
        TFN_EMULATOR_URL=emu.url,
        TFN_API_KEY=emu.api_key,
        TFN_LEDGER_PREFIX=prefix + "ledger:",
        TFN_RATE=str(rate),
    )
    logs = [Path(f"/tmp/{prefix[:-1]}-{n}.log") for n in range(workers)]
    procs = [_start_worker(env, n, prefix, log) for n, log in enumerate(logs)]
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while not all(b"ready." in log.read_bytes() for log in logs if log.exists()) or not all(
            log.exists() for log in logs
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the Celery workers did not start")
            time.sleep(0.2)
        app = make_app(redis_url, env["TFN_KEYPREFIX"], "bench")
        for i in range(messages):
            message = SMSMessage(to=("+919876543210",), text=f"bench {i}", sender="TFACTR")
            enqueue(Envelope.wrap(message, key=f"b{i}"), app=app)
        deadline = time.monotonic() + messages / 5 + 60
        while True:
            times = _emulator_times(emu)
            if len(times) >= messages:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(times)} of {messages} messages arrived")
            time.sleep(1.0)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
        client.close()
        for log in logs:
            log.unlink(missing_ok=True)
    span = times[-1] - times[0]
    return (len(times) - 1) / span, _busiest_second(times)


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    table = Table(TITLE)
    redis_url = os.environ.get("TWOFACTOR_REDIS_URL", "")
    if not redis_url:
        table.add(Row("needs Redis: set TWOFACTOR_REDIS_URL", "skipped"))
        return table
    messages = 150 if smoke else 20_000
    counts = (1, 2) if smoke else (1, 2, 4)
    with EmulatorProcess(latency_ms=150) as emu:
        free: dict[int, tuple[float, int]] = {}
        limited: dict[int, tuple[float, int]] = {}
        for n in counts:  # each pair back to back, so that both see the same machine load
            free[n] = _run(redis_url, emu, n, messages, 0)
            limited[n] = _run(redis_url, emu, n, messages, LIMIT)
    one = free[1][0]
    for n in counts:
        rate, busiest = free[n]
        table.add(
            Row(
                f"no limit, {n} worker(s): rate (busiest second {busiest})",
                f"{rate:,.1f} /s",
                f"{one:,.1f} /s",
                rate / one,
                f"info (ideal {n})",
            )
        )
    for n in counts:
        rate, busiest = limited[n]
        expected = min(n * one, LIMIT)
        table.add(
            Row(
                f"limit 200/s, {n} worker(s): rate (busiest second {busiest})",
                f"{rate:,.1f} /s",
                f"{expected:,.1f} /s",
                rate / expected,
                "0.95-1.05",
                None if smoke else 0.95 <= rate / expected <= 1.05,
            )
        )
    table.notes.append(
        f"{messages} SMS per run; {CONCURRENCY} threads per worker; baseline = min(N x one "
        "unlimited worker's rate, 200/s)"
    )
    return table
