"""``send-bulk`` stopped by a real SIGINT or SIGTERM, then resumed: no row is sent twice.

The command runs as a real subprocess (``python -m twofactor_notify``) against the
emulator of the test process. The emulator's latency keeps a chunk in flight long enough for
the signal to land while it is: the test waits until the emulator has taken that chunk's
messages (they are stored before the latency), then signals.
"""

from __future__ import annotations

import collections
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from twofactor_notify.emulator import Emulator

ROWS = 10
CHUNK = 2
_WAIT = 60.0  # seconds: a bound for a stuck run, never a measure of speed


def _text(n: int) -> str:
    return f"Statement {n} is ready"


def _csv(rows: range) -> str:
    return "phone,text\n" + "".join(f"+9198765432{n:02d},{_text(n)}\n" for n in rows)


def _result(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _sent(emulator: Emulator) -> collections.Counter[int]:
    """How many times the emulator received each row's message (by its unique text)."""
    numbers = {_text(n): n for n in range(1, ROWS + 1)}
    return collections.Counter(numbers[m.text] for m in emulator.messages() if m.text in numbers)


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _WAIT
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"send-bulk ended early ({process.returncode}): {out} {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("send-bulk never reached the expected state")
        time.sleep(0.01)


@pytest.fixture
def bulk(cli_env: Emulator, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``python -m twofactor_notify send-bulk ARGS`` (env: the emulator's key and URL)."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "twofactor_notify", "send-bulk", *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _finish(process: subprocess.Popen[str], stdin: str | None = None) -> tuple[int, str, str]:
    out, err = process.communicate(stdin, timeout=_WAIT)
    return process.returncode, out, err


def _no_partial_file(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_with_a_chunk_in_flight_then_resume_sends_every_row_at_most_once(
    bulk: Callable[..., subprocess.Popen[str]],
    cli_env: Emulator,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(_csv(range(1, ROWS + 1)), encoding="utf-8")
    results = tmp_path / "r.csv"
    results.write_text("an older file, replaced whole\n", encoding="utf-8")
    command = ("m.csv", "--sender", "TFACTR", "--chunk-size", str(CHUNK), "--result", "r.csv")
    cli_env.latency_ms = 1500.0

    process = bulk(*command)
    # the second chunk's messages are at the emulator: the first chunk was answered (chunks go
    # one after the other) and the second's answer waits for the latency
    _wait_until(lambda: len(cli_env.messages()) >= 2 * CHUNK, process)
    process.send_signal(signum)
    code, out, err = _finish(process)

    assert code == 128 + signum
    assert "2 of 4 rows accepted" in out and "2 outcome unknown" in out
    assert f"interrupted by {signum.name}" in err
    assert "--resume r.csv" in err
    assert "Traceback" not in err
    _no_partial_file(tmp_path)
    first = _result(results)
    statuses = [r["status"] for r in first]
    assert [int(r["row"]) for r in first] == list(range(1, len(first) + 1))  # no gap
    assert statuses == ["accepted"] * CHUNK + ["unknown"] * CHUNK
    assert all("in flight" in r["reason"] for r in first if r["status"] == "unknown")
    assert "nothing from row 5 on was sent" in err
    sent = _sent(cli_env)
    assert sorted(sent) == [1, 2, 3, 4]  # rows 5.. never reached the emulator

    # resume: only the rows the result file does not settle go; the unknown ones are kept
    cli_env.latency_ms = 0.0
    code, out, err = _finish(bulk("m.csv", "--sender", "TFACTR", "--resume", "r.csv"))
    assert code == 3, err  # two rows remain of unknown outcome
    assert "6 of 6 rows accepted" in out
    assert "4 rows not sent again" in out
    _no_partial_file(tmp_path)
    second = _result(results)
    assert [int(r["row"]) for r in second] == list(range(1, ROWS + 1))
    assert [r["status"] for r in second] == ["accepted"] * 2 + ["unknown"] * 2 + ["accepted"] * 6
    assert second[:4] == first  # settled lines carried over as they were
    assert _sent(cli_env) == collections.Counter(range(1, ROWS + 1))  # every row exactly once

    # again: nothing left to send
    code, out, err = _finish(bulk("m.csv", "--sender", "TFACTR", "--resume", "r.csv"))
    assert code == 3
    assert "0 of 0 rows accepted" in out
    assert _sent(cli_env) == collections.Counter(range(1, ROWS + 1))
    assert _result(results) == second

    # the named danger: the unknown rows go again, and only they
    code, out, err = _finish(
        bulk("m.csv", "--sender", "TFACTR", "--resume", "r.csv", "--resend-unknown")
    )
    assert code == 0, err
    assert [r["status"] for r in _result(results)] == ["accepted"] * ROWS
    expected = collections.Counter(range(1, ROWS + 1))
    expected.update([3, 4])
    assert _sent(cli_env) == expected


def test_a_signal_while_reading_stdin_sends_nothing_of_the_unfinished_chunk(
    bulk: Callable[..., subprocess.Popen[str]], cli_env: Emulator, tmp_path: Path
) -> None:
    process = bulk(
        "-", "--sender", "TFACTR", "--chunk-size", str(CHUNK), "--result", "r.csv", stdin=True
    )
    assert process.stdin is not None
    process.stdin.write(_csv(range(1, 4)))  # rows 1-2: a chunk; row 3 waits for row 4
    process.stdin.flush()

    def first_chunk_written() -> bool:
        return any(
            p.name.endswith(".partial") and len(p.read_text(encoding="utf-8").splitlines()) == 3
            for p in tmp_path.iterdir()
        )

    _wait_until(first_chunk_written, process)  # now blocked reading row 4
    process.send_signal(signal.SIGTERM)
    code, out, err = _finish(process)
    assert code == 143
    assert "interrupted by SIGTERM" in err and "nothing from row 3 on was sent" in err
    _no_partial_file(tmp_path)
    assert [(r["row"], r["status"]) for r in _result(tmp_path / "r.csv")] == [
        ("1", "accepted"),
        ("2", "accepted"),
    ]
    assert sorted(_sent(cli_env)) == [1, 2]

    process = bulk("-", "--sender", "TFACTR", "--resume", "r.csv", stdin=True)
    code, out, err = _finish(process, _csv(range(1, 6)))
    assert code == 0, err
    assert "3 of 3 rows accepted" in out and "2 rows not sent again" in out
    assert [r["status"] for r in _result(tmp_path / "r.csv")] == ["accepted"] * 5
    assert _sent(cli_env) == collections.Counter(range(1, 6))


def test_a_signal_before_the_first_row_leaves_a_result_file_of_no_rows(
    bulk: Callable[..., subprocess.Popen[str]], cli_env: Emulator, tmp_path: Path
) -> None:
    results = tmp_path / "r.csv"
    results.write_text("previous results\n", encoding="utf-8")
    process = bulk("-", "--sender", "TFACTR", "--result", "r.csv", stdin=True)
    assert process.stdin is not None
    process.stdin.write("phone,text\n")
    process.stdin.flush()

    def partial_opened() -> bool:
        return any(p.name.endswith(".partial") for p in tmp_path.iterdir())

    _wait_until(partial_opened, process)  # blocked reading the first row
    process.send_signal(signal.SIGINT)
    code, out, err = _finish(process)
    assert code == 130
    assert "interrupted by SIGINT" in err and "nothing from row 1 on was sent" in err
    assert "0 of 0 rows accepted" in out
    assert cli_env.messages() == []
    _no_partial_file(tmp_path)
    assert [r["status"] for r in _result(results)] == []  # what was processed: no row


def test_a_killed_run_leaves_the_named_file_whole_and_the_partial_file_beside_it(
    bulk: Callable[..., subprocess.Popen[str]], cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(_csv(range(1, ROWS + 1)), encoding="utf-8")
    results = tmp_path / "r.csv"
    results.write_text("previous results\n", encoding="utf-8")
    cli_env.latency_ms = 1500.0
    process = bulk("m.csv", "--sender", "TFACTR", "--chunk-size", str(CHUNK), "--result", "r.csv")
    _wait_until(lambda: len(cli_env.messages()) >= 2 * CHUNK, process)
    process.kill()  # SIGKILL: no handler runs
    process.communicate(timeout=_WAIT)
    assert results.read_text(encoding="utf-8") == "previous results\n"
    [partial] = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert partial.name.startswith(".r.csv.")
    assert [r["status"] for r in _result(partial)] == ["accepted"] * CHUNK  # what was reported


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
def test_sigterm_while_send_bulk_loads_sends_nothing(
    bulk: Callable[..., subprocess.Popen[str]], cli_env: Emulator, tmp_path: Path, delay: float
) -> None:
    """Before ``send-bulk`` takes SIGTERM over (the second it spends loading), SIGTERM ends
    it as the signal's default does: no line, no result file, nothing sent. Once it has,
    it is the documented exit 143 with one line. Nothing else."""
    # slow answers: the run cannot end before the signal, however fast this machine loads it
    cli_env.latency_ms = 1500.0
    (tmp_path / "rows.csv").write_text(_csv(range(1, ROWS + 1)), encoding="utf-8")
    process = bulk("rows.csv", "--sender", "TFACTR", "--result", "out.csv", "--chunk-size", "2")
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    code, out, err = _finish(process)
    said = f"{delay}s: exit {code}\n{out}{err}"
    assert "Traceback" not in err, said
    if code == -signal.SIGTERM:
        assert err == "" and not (tmp_path / "out.csv").exists(), said
        assert _sent(cli_env) == collections.Counter(), said
        _no_partial_file(tmp_path)
    else:
        assert code == 128 + signal.SIGTERM, said
        assert "interrupted by SIGTERM" in err, said
