"""Two transactions queueing different messages under one key at once: the database decides.

Each queueing helper of the app's public API (every one taking ``background``), on each
ledger, from two threads on two connections: both open a transaction, meet, queue a message
to a different number under the same key, hold the transaction open, and commit. The
database lets exactly one of them have the key; the other waits for it and gets
:class:`InvalidInputError` (``field`` ``"key"``). 2Factor gets the winner's message only, and
no message log row is left ``task_queued``.

Run on the configured database when its connections lock as a project's do (PostgreSQL, or
SQLite in a file), and always, in a child process, on SQLite in a file.
"""

from __future__ import annotations

import inspect
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

import django_twofactor
from django_twofactor.models import MessageStatus, OutgoingMessage, QueuedMessage
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import InvalidInputError

from .conftest import emulator_settings
from .sqlite_file import locks_as_a_project_does, on_a_file, run_on_a_file
from .test_tasks import IMMEDIATE, OTHER, PHONE, _ledgers

pytestmark = pytest.mark.django_db(transaction=True)


#: How each queueing helper queues one message to ``phone`` under ``key``, and the keys it
#: writes (a bulk batch's key is ``key:0``).
QUEUE: dict[str, tuple[Callable[[str, str, str], Any], Callable[[str], str]]] = {
    "send_sms": (
        lambda phone, text, key: django_twofactor.send_sms(phone, text, background=True, key=key),
        lambda key: key,
    ),
    "send_mass_sms": (
        lambda phone, text, key: django_twofactor.send_mass_sms(
            [(phone, text)], background=True, key=key
        ),
        lambda key: f"{key}:0",
    ),
}


def queueing_helpers() -> list[str]:
    """Every helper of the app's public API that can queue (takes ``background``)."""
    return sorted(
        name
        for name in django_twofactor.__all__
        if "background" in inspect.signature(getattr(django_twofactor, name)).parameters
    )


def test_every_queueing_helper_is_raced() -> None:
    assert queueing_helpers() == sorted(QUEUE)


def setups() -> list[tuple[str, bool]]:
    """Each ledger with the message log; the database ledger also without it (its own row is
    then all that holds the key). Without the log the Redis ledger has no row to check."""
    return [(ledger, True) for ledger in _ledgers()] + [("database", False)]


@pytest.fixture
def background(
    request: pytest.FixtureRequest, settings: Any, twofactor_emulator: Emulator
) -> Iterator[tuple[str, bool, str, Emulator]]:
    from tests.background.conftest import NEEDS_REDIS, REDIS_URL

    ledger, log = request.param
    key = f"race-{ledger}-{time.monotonic_ns()}"
    options: dict[str, Any] = {"ENGINE": "django-tasks", "LEDGER": ledger}
    options["ACCOUNT_RATE_LIMIT"] = None
    if ledger == "redis":
        if not REDIS_URL:
            pytest.skip(NEEDS_REDIS)
        options.update(REDIS_URL=REDIS_URL, KEY_PREFIX=f"tfn-{key}:")
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator, BACKGROUND=options, LOG_MESSAGES=log
    )
    yield ledger, log, key, twofactor_emulator
    if ledger == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for name in client.scan_iter(match=f"tfn-{key}:*"):
            client.delete(name)


@pytest.mark.skipif(not locks_as_a_project_does(), reason="run on a SQLite file below")
@pytest.mark.parametrize("helper", sorted(QUEUE))
@pytest.mark.parametrize(
    "background", setups(), indirect=True, ids=lambda setup: f"{setup[0]}-log-{setup[1]}"
)
def test_two_transactions_cannot_queue_two_messages_under_one_key(
    background: tuple[str, bool, str, Emulator], helper: str
) -> None:
    ledger, log, key, emulator = background
    queue, logged_key = QUEUE[helper]
    barrier = threading.Barrier(2)
    queued: list[str] = []
    refused: list[BaseException] = []

    def run(phone: str) -> None:
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                queue(phone, f"race to {phone}", key)
                time.sleep(0.5)  # the other transaction runs into the key meanwhile
            queued.append(phone)
        except BaseException as exc:
            refused.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(phone,)) for phone in (PHONE, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(queued) == 1, (queued, refused)
    assert [(type(exc), getattr(exc, "field", None)) for exc in refused] == [
        (InvalidInputError, "key")
    ]
    (winner,) = queued
    assert [(m.to, m.text) for m in emulator.messages()] == [(winner, f"race to {winner}")]
    rows = OutgoingMessage.objects.filter(queue_key=logged_key(key))
    logged = [(winner, MessageStatus.QUEUED)] if log else []
    assert [(row.recipient, row.status) for row in rows] == logged
    assert not OutgoingMessage.objects.filter(status=MessageStatus.TASK_QUEUED).exists()
    if ledger == "database":
        row = QueuedMessage.objects.get()
        assert (row.key, row.recipients, row.state) == (logged_key(key), [winner], "sent")


def test_on_a_sqlite_file(tmp_path: Path) -> None:
    if on_a_file():
        return  # this run is on a SQLite file: the race ran above
    stdout = run_on_a_file(__file__, tmp_path)
    from tests.background.conftest import REDIS_URL

    raced = len(QUEUE) * sum(1 for ledger, _ in setups() if REDIS_URL or ledger != "redis")
    assert re.search(rf"^{raced + 2} passed", stdout, re.M), stdout[-2000:]
