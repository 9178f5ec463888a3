"""Target 5: a delivery-report storm through gunicorn, with faults; nothing may be lost.

The emulator's callback poster (:class:`twofactor_notify.emulator.callbacks.CallbackPoster`,
the threads that POST its delivery reports) posts N reports at a set rate to gunicorn
serving, in turn, the Django app on PostgreSQL (:mod:`benchmarks.storm_settings`; SQLite
when ``TWOFACTOR_POSTGRES_URL`` is unset) and the Flask app (:mod:`benchmarks.storm_wsgi`).
Each message has two reports (``SENT``, then ``DELIVERED`` 5 s later). Faults:

* out of order: reports shuffled in blocks of 20, so a ``DELIVERED`` often comes first;
* duplicates: 5 % of the reports posted twice;
* a signal receiver that raises for 10 % of the reports (``STORM_FAIL_RATE``);
* Django on PostgreSQL: ``pg_terminate_backend`` on the app's connections (and only those:
  ``application_name = twofactor-storm`` in this database) at a third and two thirds of the
  storm.

Like 2Factor, the poster retries a report answered 5xx or not answered, and gives up on
2xx and 4xx. Counted: reports sent, stored once (Django: one row each, marked handed
over), announced (the ``on_delivery`` recorder saw it at least once), lost (sent but not
stored or not announced: must be 0), refused with a 4xx (must be 0), message-log rows at
their final status (Django), and the sustained rate of the storm.

Then the ratio: the same gunicorn serves fresh reports, as fast as the poster goes, to the
app's webhook and to a hand-written view of the same framework (Django: token, parse, one
INSERT; Flask: token, parse, record), in interleaved rounds. Target: at least 0.8.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twofactor_notify.emulator.callbacks import Callback, CallbackPoster

from ._phones import indian_mobiles
from ._support import Row, Table

NAME = "storm"
TITLE = "6. Delivery-report storm through gunicorn (faults; nothing lost)"

TOKEN = "storm-webhook-token-0123456789"
TARGET = 0.8
ROOT = Path(__file__).resolve().parent.parent
_REPORTS = "django_twofactor_deliveryreport"
_LOG = "django_twofactor_outgoingmessage"
_runs = iter(range(1, 1_000_000))


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """Serve ``app`` (``module:factory()``) with gunicorn's sync workers; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--timeout", "60",
            "--log-level", "warning", app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start ({app})") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ----------------------------------------------------------------------------- the reports


def messages(count: int) -> list[tuple[str, str]]:
    """``count`` (message id, 10-digit number) pairs, new ones on every call."""
    run = next(_runs)
    phones = indian_mobiles(count, seed=run, form="national")
    return [(f"storm-{os.getpid()}-{run}-{n:07d}", phone) for n, phone in enumerate(phones)]


def reports_of(sent: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Two reports per message: ``SENT`` then, five seconds later, ``DELIVERED``."""
    out = []
    for n, (message_id, phone) in enumerate(sent):
        second = n % 50
        for status, at in (("SENT", second), ("DELIVERED", second + 5)):
            out.append(
                {
                    "SessionId": message_id,
                    "SmsFrom": "TFACTR",
                    "SmsTo": phone,
                    "SmsStatus": status,
                    "SentAt": f"2025-03-14 10:21:{second:02d}",
                    "StatusAt": f"2025-03-14 10:22:{at:02d}",
                    "callback_value1": f"order-{n}",
                    "callback_value2": "",
                }
            )
    return out


def key_of(payload: dict[str, str]) -> str:
    """The core dedupe key of a payload (numbers here are 10-digit Indian mobiles)."""
    return f"{payload['SessionId']}:+91{payload['SmsTo']}:{payload['SmsStatus']}"


def storm_plan(payloads: list[dict[str, str]], seed: int) -> list[dict[str, str]]:
    """Shuffled in blocks of 20 (out of order), 5 % posted a second time (duplicates)."""
    rng = random.Random(seed)
    plan: list[dict[str, str]] = []
    for start in range(0, len(payloads), 20):
        block = payloads[start : start + 20]
        rng.shuffle(block)
        plan += block
    for payload in rng.sample(payloads, max(1, len(payloads) // 20)):
        plan.insert(rng.randrange(len(plan) + 1), payload)
    return plan


# ----------------------------------------------------------------------------- posting


class Outcome:
    """What the posts of one storm came to."""

    def __init__(self) -> None:
        self.posted = 0
        self.retried = 0
        self.refused = 0  # answered 4xx: 2Factor would give up on these
        self.unanswered = 0  # still 5xx or no answer after every retry
        self.seconds = 0.0


def post_storm(
    url: str,
    plan: list[dict[str, str]],
    *,
    rate: float | None,
    faults: list[tuple[float, Callable[[], None]]] = (),  # type: ignore[assignment]
    workers: int = 16,
    retries: int = 8,
) -> Outcome:
    """Post ``plan`` at ``rate`` per second (``None``: as fast as the poster goes), run each
    fault once its share of the plan was submitted, then retry what 2Factor would retry."""
    outcome = Outcome()
    poster = CallbackPoster(workers=workers, timeout=30.0, max_attempts=len(plan) * 4)
    target = f"{url}?token={TOKEN}"
    pending_faults = sorted(faults, key=lambda f: f[0])
    try:
        start = time.perf_counter()
        for n, payload in enumerate(plan):
            while pending_faults and n >= pending_faults[0][0] * len(plan):
                threading.Thread(target=pending_faults.pop(0)[1], daemon=True).start()
            if rate is not None:
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            poster.submit(Callback("delivery", target, payload))
        made = len(plan)
        poster.wait(made, timeout=600)
        outcome.seconds = time.perf_counter() - start
        outcome.posted = made
        for _ in range(retries + 1):
            answered, refused, keys = _answers(poster)
            again = {k: p for k, p in keys.items() if k not in answered and k not in refused}
            if not again or _ == retries:
                break
            # 2Factor waits before it retries, longer each time: 0.5 s, 1 s, 2 s ... 64 s, so
            # that a hand-over whose lease outlived a killed connection (60 s) is retried
            time.sleep(0.5 * 2**_)
            for payload in again.values():
                poster.submit(Callback("delivery", target, payload))
            made += len(again)
            outcome.retried += len(again)
            poster.wait(made, timeout=600)
        outcome.refused = len(refused)
        outcome.unanswered = len(again)
    finally:
        poster.stop()
    return outcome


def _answers(poster: CallbackPoster) -> tuple[set[str], set[str], dict[str, dict[str, str]]]:
    """Keys answered 2xx at least once, keys answered 4xx, and every key with its payload."""
    answered: set[str] = set()
    refused: set[str] = set()
    keys: dict[str, dict[str, str]] = {}
    for attempt in poster.attempts():
        key = key_of(attempt.payload)
        keys[key] = attempt.payload
        if attempt.ok:
            answered.add(key)
        elif attempt.status is not None and 400 <= attempt.status < 500:
            refused.add(key)
    return answered, refused, keys


# ----------------------------------------------------------------------------- the database


class Database:
    """The storm's database, reached without Django (the process may host other settings)."""

    def __init__(self, url: str, sqlite_path: str) -> None:
        self.url = url
        self.sqlite_path = sqlite_path

    @property
    def vendor(self) -> str:
        return "postgresql" if self.url else "sqlite"

    def connect(self) -> Any:
        if self.url:
            import psycopg

            return psycopg.connect(self.url, autocommit=True)
        return sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            cursor = conn.execute(sql.replace("%s", "?") if not self.url else sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    def clear(self) -> None:
        for table in (_REPORTS, _LOG):
            self.run(f"DELETE FROM {table}")

    def add_log_rows(self, sent: list[tuple[str, str]]) -> None:
        conn = self.connect()
        now = "2025-03-14 04:50:00+00:00"
        sql = (
            f"INSERT INTO {_LOG} (recipient, sender, kind, template, provider_id, status, "
            "error, text, status_at, queue_key, created_at, updated_at) "
            "VALUES (%s, 'TFACTR', 'sms', '', %s, 'queued', '', '', NULL, '', %s, %s)"
        )
        rows = [("+91" + phone, message_id, now, now) for message_id, phone in sent]
        try:
            if self.url:
                with conn.cursor() as cursor:
                    cursor.executemany(sql, rows)
            else:
                conn.executemany(sql.replace("%s", "?"), rows)
        finally:
            conn.close()

    def kill_app_connections(self) -> int:
        """``pg_terminate_backend`` on the storm app's connections in this database only."""
        rows = self.run(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
            ("twofactor-storm",),
        )
        return int(rows[0][0])


# ----------------------------------------------------------------------------- the runs


def _kill_burst(db: Database, times: int = 10, pause: float = 0.02) -> int:
    """Kill the app's connections ``times`` times in a row: idle ones and busy ones."""
    killed = 0
    for _ in range(times):
        killed += db.kill_app_connections()
        time.sleep(pause)
    return killed


def _announced(record_dir: Path) -> list[str]:
    keys: list[str] = []
    for path in record_dir.glob("announced-*.txt"):
        keys += [line for line in path.read_text().splitlines() if line]
        os.truncate(path, 0)  # not unlinked: the worker keeps it open (O_APPEND)
    return keys


def _env(record_dir: Path, db: Database | None) -> dict[str, str]:
    env = dict(
        os.environ,
        STORM_RECORD_DIR=str(record_dir),
        STORM_FAIL_RATE="0.1",
        DJANGO_SETTINGS_MODULE="benchmarks.storm_settings",
        TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    if db is not None:
        env["STORM_DATABASE_URL"] = db.url
        env["STORM_SQLITE"] = db.sqlite_path
    return env


def _storm(
    table: Table,
    framework: str,
    url: str,
    record_dir: Path,
    db: Database | None,
    n_messages: int,
    rate: float,
) -> None:
    sent = messages(n_messages)
    payloads = reports_of(sent)
    plan = storm_plan(payloads, seed=n_messages)
    faults: list[tuple[float, Callable[[], None]]] = []
    kills: list[int] = []
    # warm every worker up (imports, URLconf, a database connection) before the clock starts
    post_storm(f"{url}/baseline/delivery/", reports_of(messages(20)), rate=None, retries=0)
    # warm every worker up (imports, URLconf, a database connection) before the clock starts
    post_storm(f"{url}/baseline/delivery/", reports_of(messages(20)), rate=None, retries=0)
    if db is not None:
        db.clear()
        db.add_log_rows(sent)
        if db.vendor == "postgresql":
            faults = [(share, lambda: kills.append(_kill_burst(db))) for share in (1 / 3, 2 / 3)]
    _announced(record_dir)
    outcome = post_storm(f"{url}/twofactor/delivery/", plan, rate=rate, faults=faults)
    keys = {key_of(p) for p in payloads}
    announced = set(_announced(record_dir))
    stored = keys
    extra = ""
    if db is not None:
        rows = dict(db.run(f"SELECT dedupe_key, handed_over FROM {_REPORTS}"))
        total = db.run(f"SELECT count(*) FROM {_REPORTS}")[0][0]
        final = db.run(f"SELECT count(*) FROM {_LOG} WHERE status = 'DELIVERED'")[0][0]
        stored = {k for k in keys if hashlib.sha256(k.encode()).hexdigest() in rows}
        unmarked = sum(1 for done in rows.values() if not done)
        extra = (
            f"; {total:,} report rows ({unmarked} announced but unmarked: a killed "
            f"connection took the mark); log rows at DELIVERED: {final:,} of {len(sent):,}"
        )
        if kills:
            extra += f"; pg_terminate_backend killed {sum(kills)} app connections"
    lost = len(keys - (announced & stored))
    table.add(
        Row(
            f"{framework}: reports sent / distinct",
            f"{outcome.posted:,} / {len(keys):,}",
        )
    )
    table.add(
        Row(
            f"{framework}: stored once and announced",
            f"{len(keys & announced & stored):,}",
            ratio=None,
        )
    )
    table.add(Row(f"{framework}: lost", f"{lost}", target="0", passed=lost == 0))
    table.add(
        Row(
            f"{framework}: refused 4xx / unanswered",
            f"{outcome.refused} / {outcome.unanswered}",
            target="0 / 0",
            passed=outcome.refused == 0 and outcome.unanswered == 0,
        )
    )
    table.add(
        Row(
            f"{framework}: storm rate (target {rate:,.0f}/s)",
            f"{outcome.posted / outcome.seconds:,.0f} /s",
        )
    )
    table.notes.append(f"{framework}: {outcome.retried} retries after 5xx/no answer{extra}")


def _race(
    table: Table, framework: str, url: str, db: Database | None, per_round: int, rounds: int
) -> None:
    best = {"app": 0.0, "base": 0.0}
    paths = {"app": "/twofactor/delivery/", "base": "/baseline/delivery/"}
    for n in range(rounds + 1):  # the first round warms up
        for name in ("app", "base") if n % 2 == 0 else ("base", "app"):
            if db is not None:
                db.clear()
            plan = reports_of(messages(per_round // 2))
            outcome = post_storm(f"{url}{paths[name]}", plan, rate=None, retries=0)
            if n:
                best[name] = max(best[name], outcome.posted / outcome.seconds)
    ratio = best["app"] / best["base"]
    table.add(
        Row(
            f"{framework}: webhook vs hand-written view",
            f"{best['app']:,.0f} /s",
            f"{best['base']:,.0f} /s",
            ratio,
            f">= {TARGET}",
            ratio >= TARGET,
        )
    )


def _migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )  # fmt: skip


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    n_messages, rate = (100, 200.0) if smoke else (2_500, 400.0)
    per_round, rounds = (200, 1) if smoke else (2_000, 3)
    table = Table(TITLE)
    workdir = Path(tempfile.mkdtemp(prefix="twofactor-storm-"))
    try:
        record_dir = workdir / "records"
        record_dir.mkdir()
        url = os.environ.get("TWOFACTOR_POSTGRES_URL", "")
        db = Database(url, str(workdir / "storm.sqlite3"))
        env = _env(record_dir, db)
        _migrate(env)
        name = "Django/PostgreSQL" if url else "Django/SQLite"
        with gunicorn("benchmarks.storm_wsgi:django_app()", env) as server:
            _storm(table, name, server, record_dir, db, n_messages, rate)
            _race(table, name, server, db, per_round, rounds)
        with gunicorn("benchmarks.storm_wsgi:flask_app()", _env(record_dir, None)) as server:
            _storm(table, "Flask", server, record_dir, None, n_messages, rate)
            _race(table, "Flask", server, None, per_round, rounds)
        if url:
            db.clear()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not url:
        table.notes.append(
            "TWOFACTOR_POSTGRES_URL is unset: Django ran on SQLite, without pg_terminate_backend."
        )
    table.notes.append(
        f"{n_messages:,} messages x 2 reports (+5 % duplicates) posted at {rate:,.0f}/s by 16 "
        "threads; gunicorn, 2 sync workers; ratio: best of "
        f"{rounds} interleaved rounds of {per_round:,} fresh reports as fast as they go."
    )
    return table
