"""send-bulk: a row with no sender at all, and a ``--resume`` whose stdin ends early.

Both are checked the same way as a malformed row: a regular file is refused before anything
is sent (exit 2); stdin, read once, stops at the row (or at its end) with exit 1, what went
before recorded, and the result file kept.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twofactor_notify.emulator import Emulator

ROWS = "phone,text,sender\n9876543210,one,TFACTR\n9876543211,two,\n9876543212,three,TFACTR\n"


def _run(emulator: Emulator, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TWOFACTOR_API_KEY": emulator.api_key,
        "TWOFACTOR_BASE_URL": emulator.url,
    }
    return subprocess.run(
        [sys.executable, "-m", "twofactor_notify", "send-bulk", *argv, "-q"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _statuses(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(line["row"], line["status"]) for line in csv.DictReader(handle)]


def test_a_file_with_a_row_without_any_sender_is_refused_up_front(
    twofactor_emulator: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(ROWS, encoding="utf-8")
    done = _run(twofactor_emulator, [str(source), "--result", str(tmp_path / "r.csv")])
    assert done.returncode == 2, done.stderr
    assert "row 2" in done.stderr and "no sender" in done.stderr
    assert twofactor_emulator.messages() == []
    assert not (tmp_path / "r.csv").exists()


def test_the_sender_option_fills_the_empty_row(
    twofactor_emulator: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(ROWS, encoding="utf-8")
    done = _run(twofactor_emulator, [str(source), "--sender", "TFBANK"])
    assert done.returncode == 0, done.stderr
    assert len(twofactor_emulator.messages()) == 3


def test_stdin_stops_at_the_row_without_a_sender(
    twofactor_emulator: Emulator, tmp_path: Path
) -> None:
    result = tmp_path / "r.csv"
    argv = ["-", "--result", str(result), "--chunk-size", "1"]
    done = _run(twofactor_emulator, argv, stdin=ROWS)
    assert done.returncode == 1, done.stderr
    assert "no sender" in done.stderr and "nothing from row 2 on was sent" in done.stderr
    assert len(twofactor_emulator.messages()) == 1
    assert _statuses(result) == [("1", "accepted")]


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_resume_from_a_shorter_stdin_is_refused_at_its_end_and_keeps_the_record(
    twofactor_emulator: Emulator, tmp_path: Path, kept: int
) -> None:
    rows = ROWS.replace(",\n", ",TFACTR\n")
    result = tmp_path / "r.csv"
    assert _run(twofactor_emulator, ["-", "--result", str(result)], stdin=rows).returncode == 0
    recorded = _statuses(result)
    shorter = "".join(rows.splitlines(keepends=True)[: 1 + kept])
    done = _run(twofactor_emulator, ["-", "--resume", str(result)], stdin=shorter)
    assert done.returncode == 1, done.stderr
    assert f"ended after row {kept}" in done.stderr
    assert _statuses(result) == recorded  # nothing lost
    assert len(twofactor_emulator.messages()) == 3  # nothing sent again
