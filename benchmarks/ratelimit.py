"""Target 5: the client-side rate limit holds a burst to its rate.

A burst of sends from several threads through ``TwoFactorClient(rate_limit=200)``, over the
canned adapter (so only the limiter sets the pace). The adapter stamps each request as it
would reach the wire; the achieved rate is ``(n - 1) / (last - first)`` and, stricter, the
most requests seen in any one-second window. Baseline: the same burst with no limit (how
fast the threads could go). Target: within 5 % of 200/s.
"""

from __future__ import annotations

import bisect
import threading
import time

from twofactor_notify.client import TwoFactorClient

from ._canned import canned_session
from ._phones import indian_mobiles
from ._support import Row, Table

NAME = "ratelimit"
TITLE = "5. Client-side rate limit (canned adapter, rate_limit=200)"

API_KEY = "bench-0123456789abcdef"
RATE = 200.0
THREADS = 8


def _burst(client: TwoFactorClient, phones: list[str]) -> float:
    """Send one OTP to each of ``phones`` from :data:`THREADS` threads; wall seconds."""
    per_thread = [phones[i::THREADS] for i in range(THREADS)]
    start = threading.Barrier(THREADS + 1)

    def work(numbers: list[str]) -> None:
        start.wait()
        for number in numbers:
            client.send_otp(number)

    threads = [threading.Thread(target=work, args=(p,)) for p in per_thread]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most stamps inside any ``window``-second span starting at a stamp."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + window - 1e-9) - i for i, t in enumerate(ordered)),
        default=0,
    )


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    sends = 100 if smoke else 2_000
    table = Table(TITLE)
    phones = list(indian_mobiles(sends, seed=5))

    session, adapter = canned_session(record_times=True)
    free = TwoFactorClient(API_KEY, session=session)
    free_seconds = _burst(free, phones)
    free_rate = sends / free_seconds
    free.close()

    session, adapter = canned_session(record_times=True)
    limited = TwoFactorClient(API_KEY, session=session, rate_limit=RATE)
    _burst(limited, phones)
    limited.close()
    stamps = adapter.times
    assert len(stamps) == sends
    span = max(stamps) - min(stamps)
    rate = (sends - 1) / span
    error = abs(rate - RATE) / RATE
    table.add(
        Row(
            f"{sends:,} sends, {THREADS} threads: achieved rate",
            f"{rate:.1f} /s",
            f"{RATE:.0f} /s",
            rate / RATE,
            "within 5 %",
            error <= 0.05,
        )
    )
    if sends >= 2 * RATE:
        peak = _max_in_window(stamps)
        table.add(
            Row(
                "most requests in any 1 s window",
                f"{peak}",
                f"{RATE:.0f}",
                peak / RATE,
                "<= 210",
                peak <= RATE * 1.05,
            )
        )
    table.add(Row("same burst, no limit (capacity)", f"{free_rate:,.0f} /s"))
    table.notes.append(
        f"rate error {error * 100:.2f} %; rate = (n-1) / (last request - first request), "
        "stamped by the adapter where the request would reach the wire."
    )
    return table
