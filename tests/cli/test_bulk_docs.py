"""docs/cli.md says what ``send-bulk`` and the exit codes do: its tables and examples are
read here and held against the code."""

from __future__ import annotations

import argparse
import csv
import io
import re
import signal
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run
from twofactor_notify.cli import build_parser, errors
from twofactor_notify.cli.results import RESULT_COLUMNS, STATUSES, row_hash
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]
DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = DOC.index(title)
    rest = DOC[start + len(title) :]
    following = re.search(r"^#{2,3} ", rest, re.MULTILINE)
    return rest[: following.start()] if following else rest


def _table_codes(text: str) -> set[int]:
    codes: set[int] = set()
    for cells in re.findall(r"^\| ([0-9, ]+) \|", text, re.MULTILINE):
        codes.update(int(c) for c in cells.split(","))
    return codes


def _console_file(name: str) -> list[list[str]]:
    """The rows an example's ``$ cat NAME`` shows."""
    block = _section("## `send-bulk`")
    text = block.split(f"$ cat {name}\n", 1)[1].split("\n$ ", 1)[0].split("```", 1)[0]
    return list(csv.reader(io.StringIO(text)))


def test_the_exit_code_tables_list_every_code_the_commands_use() -> None:
    constants = {value for name, value in vars(errors).items() if name.startswith("EXIT_")} | {
        128 + signal.SIGTERM
    }
    assert _table_codes(_section("## Exit codes and errors")) == constants
    assert _table_codes(_section("### Summary and exit codes")) == constants


def test_the_result_file_columns_and_statuses_are_the_ones_written() -> None:
    header, *_ = _console_file("results.csv")
    assert tuple(header) == RESULT_COLUMNS
    table = _section("The result file has one line per row")
    assert re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE) == list(RESULT_COLUMNS)
    status_cell = next(line for line in table.splitlines() if line.startswith("| `status`"))
    assert set(re.findall(r"`(\w+)`", status_cell)) - {"status"} == set(STATUSES)
    resume_table = _section("### Interrupting and resuming")
    first_cells = re.findall(r"^\| (`[^|]+)\|", resume_table, re.MULTILINE)
    assert set(re.findall(r"`(\w+)`", " ".join(first_cells))) == set(STATUSES)


def test_the_example_hashes_are_the_hashes_of_the_example_rows() -> None:
    header, *rows = _console_file("messages.csv")
    _, *results = _console_file("results.csv")
    assert len(rows) == len(results)
    for values, line in zip(rows, results, strict=True):
        assert line[-1] == row_hash(dict(zip(header, values, strict=True)))


def test_the_option_table_lists_every_option() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    bulk = commands.choices["send-bulk"]
    documented = _section("### Summary and exit codes")
    for action in bulk._actions:
        for flag in action.option_strings:
            if flag in ("-h", "--help", "--base-url", "--timeout"):
                continue  # help, and the options of every command (documented above)
            assert f"`{flag}" in documented, flag


def test_the_json_summary_has_the_documented_keys(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n9876543210,Hi\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--json")
    summary = result.json()
    assert isinstance(summary, dict)
    sentence = next(s for s in _section("### Summary and exit codes").split(". ") if "--json" in s)
    assert set(re.findall(r"`(\w+)`", sentence)) - {"json"} == set(summary)
