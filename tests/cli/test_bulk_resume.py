"""``send-bulk --resume``: which rows go again, which never do, and inputs that changed."""

from __future__ import annotations

import collections
import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from twofactor_notify.cli.results import RESULT_COLUMNS, row_hash
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _line(n: int, phone: str | None = None) -> str:
    return f"{phone or f'+9198765432{n:02d}'},Notice {n}\n"


def _texts(emulator: Emulator) -> collections.Counter[str]:
    return collections.Counter(m.text for m in emulator.messages())


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode()), "utf-8"))


def test_failed_and_rejected_rows_go_again_accepted_and_unknown_ones_never(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text(
        "phone,text\n" + _line(1) + _line(2, "12345") + "".join(_line(n) for n in range(3, 9)),
        encoding="utf-8",
    )
    results = tmp_path / "r.csv"
    args = ("send-bulk", str(source), "--sender", "TF", "--chunk-size", "2", "--timeout", "1")
    # the first request (rows 1-2) is refused whole: row 1 was not sent, row 2 never can be
    cli_env.inject("status", status=400, times=1, match="Bulk", body='{"success": false}')
    first = run_cli(*args, "--result", str(results))
    assert first.code == 1
    assert [r["status"] for r in _rows(results)] == ["failed", "rejected"] + ["accepted"] * 6

    # resumed: rows 1 and 2 go again; this time the request times out (it may have gone)
    cli_env.inject("timeout", seconds=3, times=1, match="Bulk")
    resumed = run_cli(*args, "--resume", str(results))
    assert resumed.code == 3, resumed.err
    assert [r["status"] for r in _rows(results)] == ["unknown", "rejected"] + ["accepted"] * 6
    counts = _texts(cli_env)
    assert counts["Notice 1"] <= 1
    assert all(counts[f"Notice {n}"] == 1 for n in range(3, 9))

    # again: row 1 stays unsent (its outcome is unknown), row 2 is tried (rejected) again
    again = run_cli(*args, "--resume", str(results))
    assert again.code == 3
    assert "0 of 1 rows accepted" in again.out
    assert "7 rows not sent again (--resume): 6 accepted before, 1 of unknown outcome" in again.out
    assert _texts(cli_env) == counts


def test_a_changed_input_file_is_refused_before_anything_is_sent(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = _write(tmp_path / "m.csv", "phone,text\n" + "".join(_line(n) for n in range(1, 4)))
    results = tmp_path / "r.csv"
    assert run_cli("send-bulk", str(source), "--sender", "TF", "--result", str(results)).code == 0
    before = results.read_bytes()
    sent = len(cli_env.messages())

    changes = {
        "row 1 is not the row": "phone,text\n" + "".join(_line(n) for n in range(0, 4)),
        "row 2 is not the row": "phone,text\n" + _line(1) + "+919876543202,Edited\n" + _line(3),
        "rows beyond row 2": "phone,text\n" + _line(1) + _line(2),
    }
    for expected, content in changes.items():
        _write(source, content)
        result = run_cli("send-bulk", str(source), "--sender", "TF", "--resume", str(results))
        assert result.code == 2, expected
        assert expected in result.err and "nothing was sent" in result.err, result.err
        assert len(cli_env.messages()) == sent, expected
        assert results.read_bytes() == before, expected


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_a_changed_stdin_stops_at_the_first_changed_row(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "r.csv"
    _stdin(monkeypatch, "phone,text\n" + _line(1) + _line(2))
    first = run_cli("send-bulk", "-", "--sender", "TF", "--result", str(results))
    assert first.code == 0, first.err
    _stdin(monkeypatch, "phone,text\n" + _line(1) + "+919876543202,Edited\n" + _line(3))
    result = run_cli("send-bulk", "-", "--sender", "TF", "--resume", str(results))
    assert result.code == 1
    assert "stdin row 2 is not the row" in result.err
    assert "nothing from row 2 on was sent" in result.err
    assert _texts(cli_env) == collections.Counter({"Notice 1": 1, "Notice 2": 1})
    assert [r["status"] for r in _rows(results)] == ["accepted", "accepted"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("row,phone,status,message_id,reason\n1,+919876543201,accepted,x,\n", "row_hash"),
        ("no,csv,of,ours\n", "not a send-bulk result file"),
        ("{},{},{},{},{},{}\n2,p,accepted,x,,{h}\n1,p,accepted,y,,{h}\n", "ascending order"),
        ("{},{},{},{},{},{}\n1,p,sent,x,,{h}\n", "unknown status 'sent'"),
        ("{},{},{},{},{},{}\n1,p,accepted,x,,nothex\n", "no row_hash"),
    ],
    ids=["older-format", "foreign", "unordered", "bad-status", "bad-hash"],
)
def test_a_resume_file_this_command_did_not_write_is_refused(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, content: str, expected: str
) -> None:
    source = _write(tmp_path / "m.csv", "phone,text\n" + _line(1) + _line(2))
    digest = row_hash({"phone": "+919876543201", "text": "Notice 1"})
    resume = _write(tmp_path / "r.csv", content.format(*RESULT_COLUMNS, h=digest))
    result = run_cli("send-bulk", str(source), "--sender", "TF", "--resume", str(resume))
    assert result.code == 2
    assert expected in result.err and "nothing was sent" in result.err
    assert cli_env.messages() == []


def test_resume_options_are_checked(run_cli: RunCLI, cli_env: Emulator, tmp_path: Path) -> None:
    source = _write(tmp_path / "m.csv", "phone,text\n" + _line(1))
    result = run_cli("send-bulk", str(source), "--sender", "TF", "--resend-unknown")
    assert result.code == 2 and "--resend-unknown goes with --resume" in result.err
    result = run_cli("send-bulk", str(source), "--sender", "TF", "--resume", str(source))
    assert result.code == 2 and "is the input file" in result.err
    result = run_cli("send-bulk", str(source), "--sender", "TF", "--resume", "missing.csv")
    assert result.code == 2 and "cannot read --resume" in result.err
    assert cli_env.messages() == []


def test_resume_into_another_result_file_leaves_the_old_one(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = _write(tmp_path / "m.csv", "phone,text\n" + _line(1) + _line(2, "12345"))
    old = tmp_path / "old.csv"
    assert run_cli("send-bulk", str(source), "--sender", "TF", "--result", str(old)).code == 1
    before = old.read_bytes()
    new = tmp_path / "new.csv"
    result = run_cli(
        "send-bulk", str(source), "--sender", "TF", "--resume", str(old), "--result", str(new)
    )
    assert result.code == 1
    assert old.read_bytes() == before
    assert [r["status"] for r in _rows(new)] == ["accepted", "rejected"]
    assert _texts(cli_env)["Notice 1"] == 1


def test_the_hash_identifies_content_not_layout() -> None:
    values = {"phone": "+919876543201", "text": "Hi"}
    assert row_hash(values) == row_hash({"text": "Hi", "phone": "+919876543201", "sender": ""})
    assert row_hash(values) != row_hash({"phone": "+919876543201", "text": "Hi "})
    # field boundaries count: moving characters between fields changes the hash
    assert row_hash({"phone": "1", "text": "23"}) != row_hash({"phone": "12", "text": "3"})


def test_a_refused_key_mid_resume_keeps_every_line_of_the_result_file(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path
) -> None:
    source = _write(tmp_path / "m.csv", "phone,text\n" + _line(1) + _line(2) + _line(3))
    results = tmp_path / "r.csv"
    cli_env.inject("status", status=400, times=1, match="Bulk", body='{"success": false}')
    args = ("send-bulk", str(source), "--sender", "TF", "--chunk-size", "1")
    assert run_cli(*args, "--result", str(results)).code == 1
    before = _rows(results)
    assert [r["status"] for r in before] == ["failed", "accepted", "accepted"]

    refused = '{"success": false, "error": "Invalid API Key"}'
    cli_env.inject("status", status=401, times=1, match="Bulk", body=refused)
    result = run_cli(*args, "--resume", str(results))
    assert result.code == 1
    assert "API key" in result.err and "TWOFACTOR_API_KEY" in result.err
    assert "nothing from row 1 on was sent" in result.out
    assert f"results written to {results}" in result.out
    assert _rows(results) == before  # row 1 still failed (not sent), rows 2-3 still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "r.csv"]
    assert _texts(cli_env) == collections.Counter({"Notice 2": 1, "Notice 3": 1})
