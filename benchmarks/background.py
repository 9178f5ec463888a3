"""Target 8: Celery workers under one account-wide throttle.

SMS are queued through a real Redis broker and sent by 1, 2 and 4 Celery worker processes
(threads pool, :data:`CONCURRENCY` each) to the emulator, which answers after 150 ms. Each
message goes through the whole worker path: ledger claim, throttle, transport, ledger outcome.

* Without a limit (:data:`FREE_MESSAGES` per run): how the aggregate rate grows with N; one
  worker's rate, measured in this run, is the baseline.
* With the account limit (200/s, shared through Redis; :data:`LIMITED_MESSAGES` per run): the
  aggregate rate against ``min(N x one worker's rate, 200)``, target within 5 %; and the
  busiest second (the most requests the emulator received in any one-second window) against
  the limit plus the throttle's burst, so the limit holds at every moment, not only on average.

Method: every message is queued *before* the workers start, so queueing takes no CPU from the
sends. The rate is counted over the emulator's receipt times from the moment every worker is
ready to the receipt of the last :data:`TAIL` of the messages excluded (the drain, when some
workers have run dry): ``(k - 1) / (last - first)`` over the ``k`` receipts in that window.
Progress is watched through the broker's queue in Redis, not the emulator, whose message list
is read once at the end. The CPU seconds the worker processes and the emulator used in the
window are reported per message. Needs Redis (``TWOFACTOR_REDIS_URL``); without it the table
says so.
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ._emulator import EmulatorProcess
from ._support import Row, Table

NAME = "background"
TITLE = "8. Background sending: Celery workers, one account-wide throttle (150 ms latency)"

#: The account limit (2Factor's default), requests per second.
LIMIT = 200.0
#: The throttle's burst (its default): requests allowed back to back after a quiet spell.
BURST = 1
#: Threads per worker process (what docs/background.md recommends for sends).
CONCURRENCY = 16
#: The workers' log level: WARNING, as docs/background.md advises for sending workers (at INFO
#: Celery writes two lines per task, "received" and "succeeded").
LOGLEVEL = "WARNING"
#: Messages per run, with and without the limit (the smoke run sends :data:`SMOKE_MESSAGES`).
LIMITED_MESSAGES = 20_000
FREE_MESSAGES = 6_000
SMOKE_MESSAGES = 150
#: The last fraction of receipts left out of the rate (the queue's drain).
TAIL = 0.02
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    """One run: ``workers`` processes sending ``messages`` with the account ``limit`` (0: none)."""

    workers: int
    limit: float
    messages: int
    rate: float
    busiest: int
    window: float
    worker_cpu_ms: float
    emulator_cpu_ms: float
    machine_cores: float


def _emulator_times(emu: EmulatorProcess) -> list[float]:
    request = urllib.request.Request(emu.url + "/__emulator__/messages")
    with urllib.request.urlopen(request, timeout=120) as answer:
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


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` (sorted, seconds) in any half-open one-second window."""
    return max(
        (bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)),
        default=0,
    )


def window_rate(times: list[float], start: float, tail: float = TAIL) -> tuple[float, float]:
    """``(rate, seconds)`` over the receipts from ``start`` to the last one before the final
    ``tail`` of ``times`` (sorted)."""
    end = max(1, len(times) - int(len(times) * tail)) - 1
    first = bisect.bisect_left(times, start)
    if end - first < 1:
        raise RuntimeError("too few messages arrived after the workers were ready")
    span = times[end] - times[first]
    return (end - first) / span, span


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _start_worker(env: dict[str, str], n: int, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "benchmarks._celery_app", "worker"]
    command += ["--pool", "threads", "--concurrency", str(CONCURRENCY), "--loglevel", LOGLEVEL]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-Q", "bench"]
    command += ["-n", f"bench{n}-{prefix[10:18]}@%h"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def _run(redis_url: str, emu: EmulatorProcess, workers: int, messages: int, limit: float) -> Run:
    """Queue ``messages``, then send them with ``workers`` processes."""
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
        TFN_RATE=str(limit),
        TFN_BURST=str(BURST),
    )
    client = redis.Redis.from_url(redis_url)
    app = make_app(redis_url, env["TFN_KEYPREFIX"], "bench")
    for i in range(messages):
        message = SMSMessage(to=("+919876543210",), text=f"bench {i}", sender="TFACTR")
        enqueue(Envelope.wrap(message, key=f"b{i}"), app=app)
    logs = [Path(f"/tmp/{prefix[:-1]}-{n}.log") for n in range(workers)]
    procs = [_start_worker(env, n, prefix, log) for n, log in enumerate(logs)]
    queue, unacked = env["TFN_KEYPREFIX"] + "bench", env["TFN_KEYPREFIX"] + "unacked"
    try:
        deadline = time.monotonic() + 90
        while not all(log.exists() and b"ready." in log.read_bytes() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the Celery workers did not start")
            time.sleep(0.05)
        ready = time.time()
        cpu = [_cpu_seconds(p.pid) for p in procs]
        emu_cpu = emu.cpu_seconds()
        busy = _machine_busy()
        deadline = time.monotonic() + messages / 10 + 60
        while client.llen(queue) or client.hlen(unacked):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{client.llen(queue)} of {messages} tasks still queued")
            time.sleep(0.5)
        worker_cpu = sum(_cpu_seconds(p.pid) - c for p, c in zip(procs, cpu, strict=True))
        emu_cpu = emu.cpu_seconds() - emu_cpu
        busy = (_machine_busy() - busy) / (time.time() - ready)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
        client.close()
        for log in logs:
            log.unlink(missing_ok=True)
    times = _emulator_times(emu)
    deadline = time.monotonic() + 10  # the last task may be between the queue and its worker
    while len(times) < messages and time.monotonic() < deadline:
        time.sleep(0.5)
        times = _emulator_times(emu)
    if len(times) != messages:
        raise RuntimeError(f"{len(times)} of {messages} messages arrived")
    rate, span = window_rate(times, ready)
    sent = len(times) - bisect.bisect_left(times, ready)  # those the CPU figures cover
    return Run(
        workers=workers,
        limit=limit,
        messages=messages,
        rate=rate,
        busiest=busiest_second(times),
        window=span,
        worker_cpu_ms=worker_cpu / sent * 1000,
        emulator_cpu_ms=emu_cpu / sent * 1000,
        machine_cores=busy,
    )


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    table = Table(TITLE)
    redis_url = os.environ.get("TWOFACTOR_REDIS_URL", "")
    if not redis_url:
        table.add(Row("needs Redis: set TWOFACTOR_REDIS_URL", "skipped"))
        return table
    free_n = SMOKE_MESSAGES if smoke else FREE_MESSAGES
    limited_n = SMOKE_MESSAGES if smoke else LIMITED_MESSAGES
    counts = (1, 2) if smoke else (1, 2, 4)
    load_before = os.getloadavg()
    with EmulatorProcess(latency_ms=150) as emu:
        free: dict[int, Run] = {}
        limited: dict[int, Run] = {}
        for n in counts:  # each pair back to back, so that both see the same machine load
            free[n] = _run(redis_url, emu, n, free_n, 0)
            limited[n] = _run(redis_url, emu, n, limited_n, LIMIT)
    load_after = os.getloadavg()
    one = free[1].rate
    for n in counts:
        r = free[n]
        table.add(
            Row(
                f"no limit, {n} worker(s): rate (busiest second {r.busiest})",
                f"{r.rate:,.1f} /s",
                f"{one:,.1f} /s",
                r.rate / one,
                f"info (ideal {n})",
            )
        )
    for n in counts:
        r = limited[n]
        expected = min(n * one, LIMIT)
        table.add(
            Row(
                f"limit 200/s, {n} worker(s): rate",
                f"{r.rate:,.1f} /s",
                f"{expected:,.1f} /s",
                r.rate / expected,
                "0.95-1.05",
                None if smoke else 0.95 <= r.rate / expected <= 1.05,
            )
        )
    bound = LIMIT + BURST
    for n in counts:
        r = limited[n]
        table.add(
            Row(
                f"limit 200/s, {n} worker(s): busiest second",
                f"{r.busiest}",
                f"{bound:g}",
                r.busiest / bound,
                "<= 1.00",
                None if smoke else r.busiest <= bound,
            )
        )
    table.notes.append(
        f"{free_n:,} SMS per run without the limit, {limited_n:,} with it; {CONCURRENCY} threads "
        f"per worker; baseline = min(N x one unlimited worker's rate, {LIMIT:g}/s); busiest "
        f"second against the limit + the throttle's burst ({BURST})"
    )
    table.notes.append(
        "CPU per message after the workers were ready, worker processes + emulator (ms); the "
        "cores that makes at the measured rate; the cores the whole machine was busy:"
    )
    for r in [*free.values(), *limited.values()]:
        per_message = r.worker_cpu_ms + r.emulator_cpu_ms
        table.notes.append(
            f"  {r.workers} worker(s), {'limit 200/s' if r.limit else 'no limit'}: "
            f"{r.worker_cpu_ms:.2f} + {r.emulator_cpu_ms:.2f} ms -> "
            f"{per_message * r.rate / 1000:.2f} cores; machine {r.machine_cores:.2f} cores "
            f"busy; {r.window:.0f} s measured"
        )
    table.notes.append(
        "load average (1 min) before / after: "
        f"{load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} cores"
    )
    return table
