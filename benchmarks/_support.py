"""Shared plumbing: result tables, timing loops and machine facts.

Every benchmark returns a :class:`Table` of :class:`Row` values; ``python -m benchmarks``
prints them. A row compares a measured figure with a baseline measured in the same run
(their ratio), and says whether the issue's target was met. Targets never fail the run: a
missed target is printed as ``miss``, with notes on where the time goes.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "Row",
    "Table",
    "machine_summary",
    "median",
    "paired_samples",
    "per_call_samples",
]


@dataclass
class Row:
    """One measured figure beside its baseline.

    :param name: what was measured.
    :param measured: the figure, already formatted (``"41.2 µs"``, ``"1,650 /s"``).
    :param baseline: the baseline figure, formatted, or ``"-"``.
    :param ratio: measured / baseline (or the ratio the target is stated in), or ``None``.
    :param target: the target, in words (``"<= 1.10"``).
    :param passed: whether the target was met; ``None`` for information-only rows.
    """

    name: str
    measured: str
    baseline: str = "-"
    ratio: float | None = None
    target: str = "-"
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        """``pass``, ``miss`` or ``info``."""
        if self.passed is None:
            return "info"
        return "pass" if self.passed else "miss"


@dataclass
class Table:
    """The result of one benchmark module: its rows and free-text notes (profiles...)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, row: Row) -> Row:
        """Append a row; returns it."""
        self.rows.append(row)
        return row

    def render(self) -> str:
        """The table as aligned text, notes below it."""
        header = ("benchmark", "measured", "baseline", "ratio", "target", "result")
        body = [
            (
                r.name,
                r.measured,
                r.baseline,
                "-" if r.ratio is None else f"{r.ratio:.3f}",
                r.target,
                r.verdict,
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

        def fmt(line: tuple[str, ...]) -> str:
            cells = [
                line[i].ljust(widths[i]) if i == 0 else line[i].rjust(widths[i])
                for i in range(len(line))
            ]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines = [f"## {self.title}  ({self.seconds:.1f} s)", "", fmt(header), rule]
        lines += [fmt(line) for line in body]
        if self.notes:
            lines.append("")
            lines += [f"  {n}" if n else "" for n in self.notes]
        return "\n".join(lines)


def per_call_samples(
    fn: Callable[[], object], *, calls: int, repeats: int, warmup: int = 200
) -> list[float]:
    """Seconds per call of ``fn`` for each of ``repeats`` timed loops of ``calls`` calls.

    The garbage collector runs before each loop and is paused during it, so that one loop
    does not pay for another's garbage.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - start) / calls)
        finally:
            gc.enable()
    return samples


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def machine_summary() -> str:
    """One line about the machine and interpreter, for the report."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    import requests
    import urllib3

    return (
        f"{cpu}; {usable} usable cores; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}); "
        f"requests {requests.__version__}, urllib3 {urllib3.__version__}"
    )


def profile_top(
    fn: Callable[[], object], *, calls: int, limit: int = 12, exclude: tuple[str, ...] = ()
) -> list[str]:
    """cProfile ``calls`` calls of ``fn``; the top ``limit`` functions by own time, as lines.

    Functions whose name contains one of ``exclude`` are left out (e.g. ``recv_into``: time
    spent waiting for the server is not the client's CPU).
    """
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    return stats_lines(pstats.Stats(profiler), calls=calls, limit=limit, exclude=exclude)


def stats_lines(
    stats: object, *, calls: int, limit: int = 12, exclude: tuple[str, ...] = ()
) -> list[str]:
    """Format a :class:`pstats.Stats` as ``µs/call own, µs/call cumulative, function``."""
    import pstats

    assert isinstance(stats, pstats.Stats)
    entries = stats.stats  # type: ignore[attr-defined]
    kept = [kv for kv in entries.items() if not any(x in kv[0][2] for x in exclude)]
    rows = sorted(kept, key=lambda kv: kv[1][2], reverse=True)[:limit]
    lines = [f"{'own µs/op':>10}  {'cum µs/op':>10}  {'ncalls':>9}  function"]
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in rows:
        short = filename.rsplit("site-packages/", 1)[-1].rsplit("/work/main/", 1)[-1]
        lines.append(
            f"{tt / calls * 1e6:10.2f}  {ct / calls * 1e6:10.2f}  {nc:9d}  {short}:{line}({func})"
        )
    return lines


def paired_samples(
    contenders: dict[str, Callable[[], object]], *, calls: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each contender in each of ``repeats`` rounds, run back to back
    (order reversed every other round), so that a ratio can be taken within each round.

    The median of per-round ratios resists the drift of a shared VM (frequency changes,
    noisy neighbours) better than a ratio of two minimums taken at different moments.
    """
    for fn in contenders.values():
        per_call_samples(fn, calls=max(1, calls // 2), repeats=1)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    items = list(contenders.items())
    for i in range(repeats):
        for name, fn in items if i % 2 == 0 else items[::-1]:
            samples[name].append(per_call_samples(fn, calls=calls, repeats=1, warmup=0)[0])
    return samples
