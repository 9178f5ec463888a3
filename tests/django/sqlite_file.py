"""Running a test file's concurrency tests on an SQLite file, whatever database this run has.

An in-memory SQLite test database shares one cache between its connections, which fail at
once instead of waiting for a writer, as a project's file never does: such tests run on
PostgreSQL or on a file, and when this run has neither, in a child pytest on a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def on_a_file() -> bool:
    """True when this run's database is an SQLite file."""
    db = settings.DATABASES["default"]
    return bool(db["ENGINE"].endswith("sqlite3") and db.get("TEST", {}).get("NAME"))


def locks_as_a_project_does() -> bool:
    """False for an in-memory SQLite test database."""
    db = settings.DATABASES["default"]
    return not (db["ENGINE"].endswith("sqlite3") and db.get("TEST", {}).get("NAME") is None)


def run_on_a_file(test_file: str, tmp_path: Path) -> str:
    """Run ``test_file`` in a child pytest on a fresh SQLite file; its output (it passed)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    child = subprocess.run(
        [sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "-rs"],
        env=dict(os.environ, TWOFACTOR_TEST_DATABASE_URL=url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    return child.stdout
