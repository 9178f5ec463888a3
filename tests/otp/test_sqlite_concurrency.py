"""SQLite, file-based, threads: with ``"transaction_mode": "IMMEDIATE"`` concurrent
verifications of one code give exactly one success and no "database is locked"; without it
the system check ``otp_twofactor.W004`` says so. Each run is a fresh process and database
(``tests/otp/sqlite_race.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, mode: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.otp.sqlite_race", str(tmp_path / "db.sqlite3"), mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_immediate_transactions_give_exactly_one_success_and_no_lock_error(
    tmp_path: Path,
) -> None:
    results = _run(tmp_path, "immediate")
    assert "otp_twofactor.W004" not in results["checks"]
    for path in ("device", "django_otp", "challenge"):
        outcomes = results[path]
        assert outcomes.count("ok") == 1, (path, outcomes)
        assert set(outcomes) == {"ok", "refused"}, (path, outcomes)  # no error, no 500


def test_check_warns_when_sqlite_transactions_are_deferred(tmp_path: Path) -> None:
    results = _run(tmp_path, "deferred")
    assert "otp_twofactor.W004" in results["checks"]
    for path in ("device", "django_otp", "challenge"):
        assert results[path].count("ok") <= 1  # even then, never two successes
