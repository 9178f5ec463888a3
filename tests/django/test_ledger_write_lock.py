"""The database ledger waits for another writer; it never fails with "database is locked".

Each public method of :class:`DatabaseLedger` that reads a key's row and then writes it runs
while another connection holds an open write transaction. On SQLite in a file, a DEFERRED
transaction (Django's default) that has read cannot wait for that writer; the ledger takes
the write lock first, so it waits, and both finish. Run on the configured database when its
connections lock as a project's do (PostgreSQL, SQLite in a file), and always, in a child
process, on SQLite in a file with Django's default transaction mode.
"""

from __future__ import annotations

import inspect
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from django_twofactor.ledger import DatabaseLedger
from django_twofactor.models import QueuedMessage
from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.models import SMSMessage

from .sqlite_file import locks_as_a_project_does, on_a_file, run_on_a_file

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "worker-token"

#: Each method that reads the key's row and writes it: the state the key starts in, and the
#: call with the state the key must end in.
WRITES: dict[str, tuple[str, Callable[[DatabaseLedger, str], Any], str]] = {
    "record_sent": (
        "sending",
        lambda ledger, key: ledger.record_sent(key, token=TOKEN, provider_ids=["p-1"]),
        "sent",
    ),
    "record_failed": (
        "sending",
        lambda ledger, key: ledger.record_failed(key, token=TOKEN, error="refused"),
        "failed",
    ),
    "record_unknown": (
        "sending",
        lambda ledger, key: ledger.record_unknown(key, token=TOKEN, error="timeout"),
        "unknown",
    ),
    "release": (
        "sending",
        lambda ledger, key: ledger.release(key, token=TOKEN, error="refused", max_attempts=3),
        "retry_wait",
    ),
    "record_unreadable": (
        "queued",
        lambda ledger, key: ledger.record_unreadable(key, error="a newer version"),
        "unreadable",
    ),
    "claim": (
        "queued",
        lambda ledger, key: ledger.claim(_envelope(key), token=TOKEN, lease=60.0),
        "sending",
    ),
    "sweep": ("expired", lambda ledger, key: ledger.sweep(), "unknown"),
    "unknown": ("expired", lambda ledger, key: ledger.unknown(), "unknown"),
    "resolve": (
        "unknown",
        lambda ledger, key: ledger.resolve(key, state=LedgerState.FAILED, note="checked"),
        "failed",
    ),
    "send_again": ("unknown", lambda ledger, key: ledger.send_again(key, by="ops"), "failed"),
}
#: Public methods that only read, or only insert (an insert waits for a writer by itself).
NOT_READ_THEN_WRITE = {"queue", "queued", "get", "unreadable"}


def _envelope(key: str) -> Envelope:
    return Envelope.wrap(SMSMessage(to=("+919876543210",), text="hi", sender="TFACTR"), key=key)


def _prepare(ledger: DatabaseLedger, key: str, start: str) -> None:
    ledger.queue(_envelope(key), log=False)
    if start == "queued":
        return
    lease = -1.0 if start == "expired" else 60.0  # an expired lease: its worker died
    assert ledger.claim(_envelope(key), token=TOKEN, lease=lease).granted
    if start == "unknown":
        ledger.record_unknown(key, token=TOKEN, error="timeout")


def test_every_public_method_is_classified() -> None:
    public = {
        name
        for name, member in inspect.getmembers(DatabaseLedger, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public == set(WRITES) | NOT_READ_THEN_WRITE


@pytest.mark.skipif(not locks_as_a_project_does(), reason="run on a SQLite file below")
@pytest.mark.parametrize("method", sorted(WRITES))
def test_a_write_waits_for_another_writer(method: str) -> None:
    start, call, end = WRITES[method]
    ledger = DatabaseLedger()
    key = f"lock-{method}-{uuid.uuid4().hex[:8]}"
    _prepare(ledger, key, start)
    holding = threading.Event()
    other: list[BaseException] = []

    def writer() -> None:  # another process's transaction: it writes, then keeps it open
        try:
            with transaction.atomic():
                ledger.queue(_envelope(f"{key}-other"), log=False)
                holding.set()
                time.sleep(1.0)
        except BaseException as exc:
            other.append(exc)
        finally:
            holding.set()
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(10)
    try:
        call(ledger, key)
    finally:
        thread.join(30)
    assert other == []
    assert QueuedMessage.objects.get(key=key).state == end
    assert QueuedMessage.objects.filter(key=f"{key}-other").exists()


def test_on_a_sqlite_file_in_the_default_transaction_mode(tmp_path: Path) -> None:
    if on_a_file():
        return  # this run is on a SQLite file: the writes ran above
    stdout = run_on_a_file(__file__, tmp_path)
    assert re.search(rf"^{len(WRITES) + 2} passed", stdout, re.M), stdout[-2000:]
