"""Django's task framework with real ``django-tasks-db`` worker processes on PostgreSQL,
against the emulator at 150 ms: a rolled-back transaction's messages are never sent, and
after ``kill -9`` on a worker mid-stream and a new worker, every message was received exactly
once or is shown as outcome-unknown in the message log (0 twice, 0 lost).

The worker project is :mod:`tests.django.tasks_project`, in its own database
(``<TWOFACTOR_POSTGRES_URL's database>_tasks``, created when missing, emptied per test).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from twofactor_notify.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("TWOFACTOR_POSTGRES_URL", "")
LEASE = 3.0

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="the django-tasks-db worker test needs PostgreSQL: set TWOFACTOR_POSTGRES_URL",
)
pytest.importorskip("django_tasks_db")
psycopg = pytest.importorskip("psycopg")


def _tasks_database() -> str:
    """The URL of this test's own database, created when missing."""
    parts = urlsplit(POSTGRES_URL)
    name = (parts.path.lstrip("/") or "postgres") + "_tasks"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


class Project:
    """The worker project: its environment, its management commands, its worker processes."""

    def __init__(self, database_url: str, emulator: Emulator, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="tests.django.tasks_project.settings",
            TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
            TFN_DATABASE_URL=database_url,
            TFN_EMULATOR_URL=emulator.url,
            TFN_API_KEY=emulator.api_key,
            TFN_LEASE=str(LEASE),
        )
        self.workers: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def manage(self, *args: str) -> str:
        return self.run("-m", "django", *args)

    def start_worker(self, worker_id: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{worker_id}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "django", "db_worker", "--interval", "0.05",
                "--no-startup-delay", "--no-reload", "--worker-id", worker_id,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log"))
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str, project: Project) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{project.logs()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def tasks_database() -> str:
    return _tasks_database()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(latency_ms=150, delivery_delay=3600) as emu:
        yield emu


@pytest.fixture
def project(tasks_database: str, emulator: Emulator, tmp_path: Path) -> Iterator[Project]:
    one = Project(tasks_database, emulator, tmp_path)
    one.manage("migrate", "-v", "0")
    one.manage("flush", "--noinput", "-v", "0")
    yield one
    one.stop()


def test_kill_9_mid_stream_then_a_new_worker_sends_each_message_once_or_shows_it_unknown(
    project: Project, emulator: Emulator
) -> None:
    prefix = uuid.uuid4().hex[:8]
    total, rolled_back = 60, 10
    project.run("-m", "tests.django.tasks_project.produce", prefix, str(total), str(rolled_back))
    keys = [f"{prefix}-{i}" for i in range(total)]
    rolled = [f"{prefix}-rb-{i}" for i in range(rolled_back)]

    # queued inside the committed transaction: one ledger row and one log row per message,
    # all waiting; the rolled-back transaction left neither rows nor tasks
    states = project.query("SELECT state, count(*) FROM django_twofactor_queuedmessage GROUP BY 1")
    assert states == [("queued", total)]
    log = project.query("SELECT status, count(*) FROM django_twofactor_outgoingmessage GROUP BY 1")
    assert log == [("task_queued", total)]
    assert project.query("SELECT count(*) FROM django_tasks_database_dbtaskresult") == [(total,)]

    first = project.start_worker("first")
    wait_until(lambda: len(emulator.messages()) >= 12, 60, "the first worker to send", project)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = len(emulator.messages())
    assert at_kill < total, "the worker was killed after the stream ended"

    project.start_worker("second")

    def waiting() -> int:
        rows = project.query(
            "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'READY'"
        )
        return int(rows[0][0])

    wait_until(lambda: waiting() == 0, 60, "the second worker to drain the queue", project)
    # a task the killed worker had taken is never run again by django-tasks-db: its key is
    # either "sending" (recorded unknown once the lease ends) or still "queued" (enqueued
    # again by twofactor_requeue; the ledger lets it through once)
    time.sleep(LEASE + 0.5)
    requeued = project.manage("twofactor_requeue", "--older-than", "1")

    def settled() -> bool:
        project.manage("twofactor_status", "--limit", "1")  # records dead claims unknown
        rows = project.query(
            "SELECT count(*) FROM django_twofactor_queuedmessage "
            "WHERE state NOT IN ('sent', 'unknown', 'failed')"
        )
        return int(rows[0][0]) == 0

    wait_until(settled, 60, "every key to settle", project)

    received = collections.Counter(m.text.removeprefix("message ") for m in emulator.messages())
    ledger = dict(project.query("SELECT key, state FROM django_twofactor_queuedmessage"))
    log_rows = project.query(
        "SELECT queue_key, status, provider_id FROM django_twofactor_outgoingmessage"
    )
    unknown = {k for k, state in ledger.items() if state == "unknown"}
    twice = [k for k, n in received.items() if n > 1]
    lost = [k for k in keys if received[k] != 1 and k not in unknown]
    print(
        f"received before the kill: {at_kill}; unknown: {sorted(unknown)}; {requeued.strip()}",
        flush=True,
    )
    assert twice == []
    assert lost == []
    assert set(ledger) == set(keys)  # the rolled-back keys never reached the ledger
    assert not any(k in received for k in rolled)  # nor 2Factor
    assert set(ledger.values()) <= {"sent", "unknown"}
    assert len(unknown) <= 1  # a db_worker runs one task at a time: only the kill's in-flight
    assert len(emulator.messages()) > at_kill  # the second worker finished the stream
    # the message log tells the same story: one row per message, with 2Factor's id when sent
    ids = {m.text.removeprefix("message "): m.id for m in emulator.messages()}
    assert sorted(k for k, _, _ in log_rows) == sorted(keys)
    for key, status, provider_id in log_rows:
        # a key unknown to the ledger may still have its id in the log: the worker was
        # killed between 2Factor's answer and the ledger's record of it
        if ledger[key] == "sent" or provider_id:
            assert (status, provider_id) == ("queued", ids[key])
        else:
            assert status == "unknown"
    # and twofactor_status shows what waits for a human
    listed = project.manage("twofactor_status", "--unknown")
    for key in unknown:
        assert key in listed
    if not unknown:
        assert "No unknown outcomes." in listed
