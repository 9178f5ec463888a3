"""``send-bulk`` regressions from the review: strict CSV, the result file, header checks,
failed chunks with local rejections."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _good(n: int) -> str:
    return f'+9198765432{n:02d},"Hello, customer {n}",TF{n:04d}\n'


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode()), "utf-8"))


# ---------------------------------------------------------------------- 1. strict CSV


def test_unbalanced_quote_never_merges_rows_into_one_message(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    # row 3's quote is left open: a lenient reader makes rows 4-5 part of its text
    source = tmp_path / "m.csv"
    source.write_text(
        "phone,text,callback_value1\n"
        + _good(1)
        + _good(2)
        + '+919876543203,"Hello, customer 3,cv3\n'
        + "+919876543204,Hello customer 4,cv4\n"
        + '+919876543205,Hello customer 5",cv5\n',
        encoding="utf-8",
    )
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--chunk-size", "1")
    assert result.code == 2
    assert "row 3" in result.err and "--allow-newlines" in result.err
    assert "nothing was sent" in result.err
    assert cli_env.messages() == []  # the whole file is checked before anything is sent


def test_quote_never_closed_is_refused(run_cli: RunCLI, cli_env: Emulator, tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    source.write_text(_good(1) + '+919876543202,"Hello 2,cv2\n' + _good(3), encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert result.code == 2
    assert "line" in result.err and "Traceback" not in result.err
    assert cli_env.messages() == []


def test_text_after_a_closing_quote_is_refused(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(_good(1) + '+919876543202,"Hello" 2,cv2\n', encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert result.code == 2
    assert cli_env.messages() == []


def test_more_fields_than_columns_is_refused(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n+919876543201,Hi,unexpected\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert result.code == 2
    assert "3 fields" in result.err
    assert cli_env.messages() == []


def test_allow_newlines_accepts_quoted_line_breaks(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text('phone,text\n+919876543201,"Line one\nline two"\n', encoding="utf-8")
    refused = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert refused.code == 2
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--allow-newlines")
    assert result.code == 0, result.err
    [message] = cli_env.messages()
    assert message.text == "Line one\nline two"


def test_stdin_stops_at_the_bad_row_and_reports_what_went(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stdin cannot be read twice: the rows before the bad one go, none after it
    _stdin(
        monkeypatch,
        _good(1) + _good(2) + _good(3) + '+919876543204,"Hello 4\n' + _good(5) + _good(6) + '"\n',
    )
    result_file = tmp_path / "r.csv"
    result = run_cli(
        "send-bulk",
        "-",
        "--sender",
        "TFACTR",
        "--chunk-size",
        "2",
        "--result",
        str(result_file),
    )
    assert result.code == 1
    assert "row 4" in result.err
    assert "2 rows before it were sent" in result.err
    assert [m.text for m in cli_env.messages()] == ["Hello, customer 1", "Hello, customer 2"]
    assert [(r["row"], r["status"]) for r in _rows(result_file)] == [
        ("1", "accepted"),
        ("2", "accepted"),
    ]


def test_stdin_stopped_before_any_chunk_went_still_writes_the_result_file(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rows 1-2 wait for a chunk of 1000 when row 3 shows the input is broken: nothing went,
    # and the result file the message names must say so, not hold an older run's lines
    _stdin(monkeypatch, _good(1) + _good(2) + '+919876543203,"Hello 3\n' + _good(4) + '"\n')
    result_file = tmp_path / "r.csv"
    result_file.write_text("row,phone,status\n1,+919876543201,accepted\n", encoding="utf-8")
    result = run_cli("send-bulk", "-", "--sender", "TFACTR", "--result", str(result_file))
    assert result.code == 1
    assert "row 3" in result.err and "nothing from row 1 on was sent" in result.err
    assert str(result_file) in result.err
    assert cli_env.messages() == []
    assert _rows(result_file) == []  # what was processed: no row
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


# ---------------------------------------------------------------------- 2, 3. the result file


def test_result_file_equal_to_the_input_is_refused(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    content = "phone,text\n+919876543201,Hi\n"
    source.write_text(content, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(source)
    for same in (str(source), str(tmp_path / "sub" / ".." / "m.csv"), str(link)):
        result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--result", same)
        assert result.code == 2, same
        assert "is the input file" in result.err
    assert source.read_text(encoding="utf-8") == content
    assert cli_env.messages() == []


def test_a_failure_before_sending_keeps_the_old_result_file(
    run_cli: RunCLI,
    cli_env: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n+919876543201,Hi\n", encoding="utf-8")
    result_file = tmp_path / "r.csv"
    result_file.write_text("previous results\n", encoding="utf-8")
    monkeypatch.delenv("TWOFACTOR_API_KEY")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--result", str(result_file))
    assert result.code == 2
    assert "no API key" in result.err
    assert result_file.read_text(encoding="utf-8") == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "r.csv"]  # no temp left


def test_results_replace_the_file_at_the_end(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n+919876543201,Hi\n+919876543202,Hi\n", encoding="utf-8")
    result_file = tmp_path / "r.csv"
    result_file.write_text("previous results\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--result", str(result_file))
    assert result.code == 0, result.err
    assert [r["status"] for r in _rows(result_file)] == ["accepted", "accepted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "r.csv"]


# ---------------------------------------------------------------------- 9. failed chunks


def test_failed_chunk_keeps_local_rejections_and_says_may_have_been_sent_once(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(
        "phone,text\n+919876543201,Hi\n12345,Hi\n+919876543203,Hi\n+919876543204,Hi\n",
        encoding="utf-8",
    )
    cli_env.inject("reset_after", times=1, match="Bulk")
    result_file = tmp_path / "r.csv"
    result = run_cli(
        "send-bulk",
        str(source),
        "--sender",
        "TFACTR",
        "--chunk-size",
        "3",
        "--result",
        str(result_file),
    )
    assert result.code == 3  # some rows may or may not have gone
    rows = _rows(result_file)
    assert [r["status"] for r in rows] == ["unknown", "rejected", "unknown", "accepted"]
    assert rows[1]["reason"].startswith("phone:")
    for row in (rows[0], rows[2]):
        assert row["reason"].lower().count("may have") == 1, row["reason"]
    assert "2 outcome unknown" in result.out and "1 rejected" in result.out


def test_outcome_unknown_without_a_hint_gets_one(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n+919876543201,Hi\n", encoding="utf-8")
    cli_env.inject("status", status=502, times=1, match="Bulk")
    result_file = tmp_path / "r.csv"
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--result", str(result_file))
    assert result.code == 3
    [row] = _rows(result_file)
    assert row["status"] == "unknown"
    assert row["reason"].lower().count("may have") == 1, row["reason"]


# ---------------------------------------------------------------------- 13. header checks


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("phone,text,text", "named twice: text"),
        ("mobile,message", "mobile, message is not a column name"),
        ("Phone Number,Text", "phone number is not a column name"),
        ("phone,sender", "no text column"),
    ],
)
def test_header_problems_are_refused(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, header: str, expected: str
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(f"{header}\n+919876543201,Hi,TFACTR\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert result.code == 2
    assert expected in result.err
    if "not a column name" in expected or "no text" in expected:
        assert "phone,text,sender,callback_value1,callback_value2" in result.err
    assert cli_env.messages() == []
