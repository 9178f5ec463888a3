"""``send-bulk``: CSV in, per-row result file out, streamed in chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run
from twofactor_notify.cli.progress import ProgressBar
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_with_a_bad_row_and_a_result_file(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "messages.csv"
    source.write_text(
        "phone,text,sender,callback_value1\n"
        "+919876543210,Hello one,,order-1\n"
        "12345,Hello bad,,order-2\n"
        "9123456780,Hello three,TFBANK,order-3\n"
        "\n"
        "+91 87654 32109,,,order-4\n",
        encoding="utf-8",
    )
    result_file = tmp_path / "result.csv"
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--result", str(result_file))
    assert result.code == 1  # not every row was accepted
    assert "2 of 4 rows accepted" in result.out
    assert "2 rejected" in result.out
    assert "\r" not in result.err  # no progress bar without a terminal

    rows = _rows(result_file)
    assert [r["row"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["status"] for r in rows] == ["accepted", "rejected", "accepted", "rejected"]
    assert rows[1]["phone"] == "12345"
    assert rows[1]["reason"].startswith("phone:")
    assert rows[3]["reason"].startswith("text:")
    assert rows[0]["message_id"] and rows[2]["message_id"]
    assert rows[1]["message_id"] == ""

    by_id = {m.id: m for m in cli_env.messages()}
    assert by_id[rows[0]["message_id"]].sender == "TFACTR"
    assert by_id[rows[2]["message_id"]].sender == "TFBANK"
    assert by_id[rows[2]["message_id"]].callback_value1 == "order-3"


def test_headerless_csv_streams_in_chunks(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "plain.csv"
    source.write_text(
        "".join(f"+9198765432{n:02d},Message {n}\n" for n in range(7)), encoding="utf-8"
    )
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR", "--chunk-size", "2", "--json")
    assert result.code == 0, result.err
    summary = result.json()
    assert isinstance(summary, dict)
    assert summary["total"] == summary["accepted"] == 7
    assert summary["rejected"] == summary["failed"] == 0
    records = cli_env.messages()
    assert len(records) == 7
    # bulk message ids are "{requestId}-{n}": four requests of at most two messages
    assert len({r.id.rsplit("-", 1)[0] for r in records}) == 4


def test_a_failed_chunk_marks_its_rows_failed(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(
        "phone,text\n" + "".join(f"98765432{n:02d},Hi {n}\n" for n in range(4)), encoding="utf-8"
    )
    cli_env.inject("status", status=400, times=1, match="Bulk", body='{"success": false}')
    result_file = tmp_path / "r.csv"
    result = run_cli(
        "send-bulk",
        str(source),
        "--sender",
        "TFACTR",
        "--chunk-size",
        "2",
        "--result",
        str(result_file),
    )
    assert result.code == 1
    rows = _rows(result_file)
    assert [r["status"] for r in rows] == ["failed", "failed", "accepted", "accepted"]
    assert "BulkRequestError" in rows[0]["reason"]
    assert "2 failed" in result.out


def test_sender_needed_before_anything_is_sent(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n9876543210,Hi\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source))
    assert result.code == 2
    assert "--sender" in result.err
    assert cli_env.messages() == []


def test_unknown_column_is_refused(run_cli: RunCLI, cli_env: Emulator, tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text,callback_value_1\n9876543210,Hi,x\n", encoding="utf-8")
    result = run_cli("send-bulk", str(source), "--sender", "TFACTR")
    assert result.code == 2
    assert "callback_value_1" in result.err


def test_missing_file(run_cli: RunCLI, cli_env: Emulator, tmp_path: Path) -> None:
    result = run_cli("send-bulk", str(tmp_path / "nope.csv"), "--sender", "TFACTR")
    assert result.code == 2
    assert "cannot read" in result.err
    assert "Traceback" not in result.err


def test_chunk_size_range(run_cli: RunCLI, cli_env: Emulator, tmp_path: Path) -> None:
    result = run_cli("send-bulk", "x.csv", "--sender", "TFACTR", "--chunk-size", "1001")
    assert result.code == 2
    assert "1 to 1000" in result.err


def test_progress_bar_draws_on_one_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(200, stream=stream, enabled=True)
    bar.update(100, "5 rows", force=True)
    bar.finish("10 rows")
    text = stream.getvalue()
    assert text.startswith("\r[")
    assert " 50%  5 rows" in text
    assert "100%  10 rows" in text
    assert text.endswith("\n")


def test_progress_bar_disabled_writes_nothing() -> None:
    stream = io.StringIO()
    bar = ProgressBar(200, stream=stream, enabled=False)
    bar.update(100, "5 rows", force=True)
    bar.finish("10 rows")
    assert stream.getvalue() == ""
