"""``--result`` that cannot be written is refused before anything is sent; a failure to write
or place it once sending began never exits 1 (which a script may retry).

Every option that names the result file (``--result``, and ``--resume`` when it is the file
updated) is walked with every kind of unwritable path.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from twofactor_notify.cli.errors import EXIT_OUTCOME_UNKNOWN, EXIT_USAGE
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def _input(tmp: Path, rows: int = 3) -> Path:
    path = tmp / "in.csv"
    lines = ["phone,text"] + [f"98765432{i:02d},Your statement is ready" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# kind of place -> the path given
UNWRITABLE: dict[str, Callable[[Path], str]] = {
    "a directory": lambda tmp: str(tmp / "d"),
    "an existing folder": lambda tmp: str(tmp),
    "a missing folder": lambda tmp: str(tmp / "missing" / "r.csv"),
    "stdout dash": lambda tmp: "-",
    "not a regular file": lambda tmp: str(tmp / "fifo"),
}


@pytest.fixture
def places(tmp_path: Path) -> Path:
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


@pytest.mark.parametrize("option", ["--result", "--resume"])
@pytest.mark.parametrize("kind", sorted(UNWRITABLE))
def test_an_unwritable_result_path_is_refused_before_sending(
    run_cli: RunCLI, cli_env: Emulator, places: Path, option: str, kind: str
) -> None:
    source = _input(places)
    target = UNWRITABLE[kind](places)
    before = sorted(p.name for p in places.iterdir())
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", option, target, "-q")
    assert result.code == EXIT_USAGE, result.err
    assert cli_env.messages() == []
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert sorted(p.name for p in places.iterdir()) == before  # no .partial left anywhere


def test_a_result_file_that_cannot_be_placed_after_sending_exits_3(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = _input(tmp_path, rows=2)
    target = tmp_path / "r.csv"
    cli_env.latency_ms = 500.0

    def block_the_place() -> None:  # while the first request waits, the path turns a folder
        deadline = time.monotonic() + 30
        while not cli_env.messages() and time.monotonic() < deadline:
            time.sleep(0.005)
        target.mkdir()

    watcher = threading.Thread(target=block_the_place)
    watcher.start()
    result = run_cli(
        "send-bulk", str(source), "--sender", "TFACTR", "--result", str(target), "--chunk-size", "1"
    )
    watcher.join()
    assert len(cli_env.messages()) == 2
    assert result.code == EXIT_OUTCOME_UNKNOWN, result.err
    assert "outcome unknown" in result.err and "Traceback" not in result.err
    partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and str(partial[0]) in result.err
    lines = partial[0].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(",accepted," in line for line in lines[1:])


@pytest.mark.parametrize("option", ["--result", "--resume"])
def test_naming_the_input_is_refused_under_the_option_given(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, option: str
) -> None:
    source = _input(tmp_path)
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", option, str(source), "-q")
    assert result.code == EXIT_USAGE
    assert f"{option} {source} is the input file" in result.err
    other = "--resume" if option == "--result" else "--result"
    assert other not in result.err
    assert cli_env.messages() == []
