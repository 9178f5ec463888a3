"""Target 3: bulk sends to the emulator (running in its own process).

* ``send_bulk`` of 100,000 messages (prebuilt ``BulkMessage`` list, chunks of 1000): rate in
  messages per second, target 50,000/s. Baseline, same run and same emulator: raw
  ``requests.Session.post`` of the very same requests, serialised beforehand, i.e. what the
  emulator and HTTP allow with no client-side work at all.
* ``iter_bulk`` of 1,000,000 messages built lazily by a generator, results consumed as they
  come, in a fresh child process: peak RSS (``ru_maxrss``) under 150 MB. Baseline: the peak
  RSS of the same child that imports everything and sends one small chunk.

The CPU split (client process vs emulator process) shows which side sets the pace: the
requests go one after another, so the wall time is roughly the sum of both.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

import requests

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.models import BulkMessage

from ._emulator import EmulatorProcess, self_cpu_seconds
from ._phones import indian_mobiles
from ._support import Row, Table

NAME = "bulk"
TITLE = "3. Bulk sends to the emulator (separate process)"

TEXT = "Your order {n} has shipped and will arrive tomorrow. Track it: https://ex.am/t/{n}"
SENDER = "TFACTR"
RATE_TARGET = 50_000.0
RSS_TARGET_MB = 150.0


def bulk_messages(count: int, *, seed: int = 7, form: str = "e164") -> Iterator[BulkMessage]:
    """``count`` bulk messages to a spread of Indian mobiles, each text a little different."""
    for n, phone in enumerate(indian_mobiles(count, seed=seed, form=form)):
        yield BulkMessage(to=phone, text=TEXT.format(n=100000 + n), sender=SENDER)


def _raw_bodies(api_key: str, messages: list[BulkMessage]) -> list[bytes]:
    """The JSON bodies the client sends for ``messages`` (1000 a request), built up front."""
    bodies = []
    for start in range(0, len(messages), 1000):
        payload = {
            "module": "TRANS_SMS",
            "apikey": api_key,
            "messages": [
                {"smsFrom": m.sender, "smsTo": m.to, "smsText": m.text}
                for m in messages[start : start + 1000]
            ],
        }
        bodies.append(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    return bodies


def _vm_hwm_mb() -> float:
    """This process's peak RSS as /proc says (``VmHWM``), MB; NaN where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _child(argv: list[str]) -> int:
    """Child process mode: stream messages through ``iter_bulk``; print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)
    api_key = os.environ["BENCH_API_KEY"]
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    client = TwoFactorClient(api_key, base_url=args.url, timeout=60.0)
    accepted = rejected = failed = 0
    started = time.perf_counter()
    for result in client.iter_bulk(bulk_messages(args.count, seed=11)):
        accepted += len(result.accepted)
        rejected += len(result.rejected)
        failed += sum(f.count for f in result.failed_chunks)
    seconds = time.perf_counter() - started
    out = {
        "accepted": accepted,
        "rejected": rejected,
        "failed": failed,
        "seconds": seconds,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vmhwm_mb": _vm_hwm_mb(),
    }
    if args.tracemalloc:
        import tracemalloc

        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(out))
    client.close()
    return 0


# Linux carries a process's RSS high-water mark across fork + exec (ru_maxrss of a child
# spawned straight from this big process would start at *our* peak). A bare interpreter in
# between makes the child's ru_maxrss its own: it is forked from that small process.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _run_child(url: str, api_key: str, count: int, *, trace: bool = False) -> dict[str, float]:
    cmd = [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "benchmarks.bulk", "--child"]
    cmd += ["--url", url, "--count", str(count)]
    if trace:
        cmd.append("--tracemalloc")
    env = dict(os.environ, BENCH_API_KEY=api_key, TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bulk child failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    count = 2_000 if smoke else 100_000
    stream_count = 5_000 if smoke else 1_000_000
    rounds = 1 if smoke else 3
    table = Table(TITLE)
    messages = list(bulk_messages(count))

    with EmulatorProcess() as emu:
        client = TwoFactorClient(emu.api_key, base_url=emu.url, timeout=60.0)
        raw = requests.Session()
        raw.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=4, max_retries=0))
        bodies = _raw_bodies(emu.api_key, messages)
        headers = {"Content-Type": "application/json"}
        warm = client.send_bulk(messages[:2000])
        assert len(warm.accepted) == min(2000, count), warm
        for body in bodies[:2]:
            raw.post(f"{emu.url}/API/R1/Bulk/", data=body, headers=headers).raise_for_status()

        best_client = best_raw = float("inf")
        split = (0.0, 0.0)
        for _ in range(rounds):
            t0 = time.perf_counter()
            for body in bodies:
                answer = raw.post(f"{emu.url}/API/R1/Bulk/", data=body, headers=headers)
                answer.raise_for_status()
                answer.json()
            best_raw = min(best_raw, time.perf_counter() - t0)

            emu_cpu, own_cpu = emu.cpu_seconds(), self_cpu_seconds()
            t0 = time.perf_counter()
            result = client.send_bulk(messages)
            elapsed = time.perf_counter() - t0
            assert len(result.accepted) == count and result.ok, (len(result.accepted), count)
            if elapsed < best_client:
                best_client = elapsed
                split = (self_cpu_seconds() - own_cpu, emu.cpu_seconds() - emu_cpu)
        client.close()
        raw.close()

    rate = count / best_client
    raw_rate = count / best_raw
    table.add(
        Row(
            f"send_bulk {count:,} msgs (rate)",
            f"{rate:,.0f} /s",
            f"{raw_rate:,.0f} /s",
            rate / raw_rate,
            f">= {RATE_TARGET:,.0f} /s",
            rate >= RATE_TARGET,
        )
    )
    client_cpu, emu_cpu = split
    table.notes.append(
        f"baseline: raw Session.post of the same {len(bodies)} pre-serialised bodies "
        f"(emulator + HTTP only). Best of {rounds}."
    )
    table.notes.append(
        f"CPU in the best send_bulk run: client {client_cpu:.2f} s "
        f"({client_cpu / count * 1e6:.1f} µs/msg), emulator {emu_cpu:.2f} s "
        f"({emu_cpu / count * 1e6:.1f} µs/msg), wall {best_client:.2f} s."
    )

    with EmulatorProcess() as emu:
        idle = _run_child(emu.url, emu.api_key, 10)
        streamed = _run_child(emu.url, emu.api_key, stream_count)
        traced = _run_child(emu.url, emu.api_key, stream_count // 10, trace=True)
        emulator_rss = emu.rss_mb()
    assert streamed["accepted"] == stream_count, streamed
    table.add(
        Row(
            f"iter_bulk {stream_count:,} msgs: peak RSS",
            f"{streamed['maxrss_mb']:.1f} MB",
            f"{idle['maxrss_mb']:.1f} MB",
            streamed["maxrss_mb"] / idle["maxrss_mb"],
            f"< {RSS_TARGET_MB:.0f} MB",
            streamed["maxrss_mb"] < RSS_TARGET_MB,
        )
    )
    table.add(
        Row(
            f"iter_bulk {stream_count:,} msgs (rate, incl. generator)",
            f"{stream_count / streamed['seconds']:,.0f} /s",
        )
    )
    table.add(
        Row(
            f"tracemalloc peak, {stream_count // 10:,} msgs",
            f"{traced['tracemalloc_peak_mb']:.1f} MB",
        )
    )
    table.notes.append(
        f"peak RSS: ru_maxrss of a fresh child process (VmHWM {streamed['vmhwm_mb']:.1f} MB); "
        "baseline = the same child sending 10 messages. The emulator"
        f" process held {emulator_rss:.0f} MB at the end (it keeps "
        "every message it received)."
    )

    national = list(bulk_messages(count // 10, seed=3, form="national"))
    with EmulatorProcess() as emu:
        client = TwoFactorClient(emu.api_key, base_url=emu.url, timeout=60.0)
        client.send_bulk(national[:1000])
        t0 = time.perf_counter()
        result = client.send_bulk(national)
        elapsed = time.perf_counter() - t0
        client.close()
    assert len(result.accepted) == len(national)
    table.add(
        Row(
            f"send_bulk {len(national):,} msgs typed 98XXXXXXXX",
            f"{len(national) / elapsed:,.0f} /s",
        )
    )
    table.notes.append(
        "numbers typed in national form go through libphonenumber (E.164 ones take a regex "
        "fast path): that row shows the cost when callers do not normalise first."
    )
    return table


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        raise SystemExit(_child(sys.argv[2:]))
    raise SystemExit("run `python -m benchmarks --only bulk`")
