"""An envelope no worker can read (a newer version, a bad field, not an object) is recorded
``unreadable`` in the ledger, by every ledger and from every task entry point, and nothing is
sent; a readable delivery of the same key may still go, once.

The ledgers are the ``ledger`` fixture's (every :class:`SendLedger` subclass must be among
them); the entry points are the Celery task (run in process here, and by a real worker over
a real Redis broker below) and the task of Django's task framework."""

from __future__ import annotations

import importlib
import importlib.util
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from twofactor_notify.background import (
    BackgroundSender,
    Envelope,
    LedgerState,
    SendLedger,
    unreadable_key,
)
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import SMSMessage
from twofactor_notify.transport import InMemoryTransport

from .conftest import LEDGERS, NEEDS_REDIS, REDIS_URL

PHONE = "+919876543210"


def good(key: str) -> dict[str, Any]:
    return Envelope.wrap(SMSMessage(to=(PHONE,), text="hello", sender="TFACTR"), key=key).to_dict()


#: Bodies a worker cannot read, each with the record key it lands on.
BAD_BODIES: dict[str, Callable[[str], Any]] = {
    "a newer version": lambda key: {**good(key), "v": 2},
    "a bad queued_at": lambda key: {**good(key), "queued_at": "yesterday"},
    "an unknown kind": lambda key: {**good(key), "message": {"kind": "fax"}},
    "a bad key": lambda key: {**good(key), "key": f"{key} with spaces"},
    "not an object": lambda key: f"not json {key}",
}


def expected_key(body: Any, key: str) -> str:
    """Its own key when readable, else ``unreadable:`` and the body's hash."""
    found = unreadable_key(body)
    if isinstance(body, dict) and " " not in str(body.get("key")):
        assert found == key
    else:
        assert found.startswith("unreadable:") and len(found) == len("unreadable:") + 64
        assert unreadable_key(body) == found  # the same body, the same record
    return found


def test_every_ledger_class_is_walked_by_the_ledger_fixture() -> None:
    pytest.importorskip("redis")
    importlib.import_module("twofactor_notify.background.redis_ledger")
    if importlib.util.find_spec("django"):
        importlib.import_module("django_twofactor.ledger")
    walked = {"memory": "InMemoryLedger", "redis": "RedisLedger", "database": "DatabaseLedger"}
    walked["logged"] = "MessageLogLedger"
    names = [p if isinstance(p, str) else p.values[0] for p in LEDGERS]
    found = {cls.__name__ for cls in _subclasses(SendLedger)}
    assert found <= {walked[name] for name in names}, "a ledger the contract tests do not walk"


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith(("twofactor_notify", "django_twofactor")):
            out.add(sub)
        out |= _subclasses(sub)
    return out


def test_an_unreadable_key_is_recorded_and_a_readable_delivery_may_still_claim_it(
    ledger: SendLedger,
) -> None:
    key = f"unreadable-{uuid.uuid4().hex[:8]}"
    record = ledger.record_unreadable(key, error="EnvelopeError: version 2")
    assert record.state is LedgerState.UNREADABLE and not record.state.final
    assert record.error == "EnvelopeError: version 2"
    assert [r.key for r in ledger.unreadable()] == [key]
    got = ledger.get(key)
    assert got is not None and got.state is LedgerState.UNREADABLE
    record = ledger.record_unreadable(key, error="EnvelopeError: again")
    assert record.state is LedgerState.UNREADABLE and record.error == "EnvelopeError: again"
    claim = ledger.claim(Envelope.from_dict(good(key)), token="t1", lease=60)
    assert claim.granted and claim.record.attempts == 1
    assert ledger.unreadable() == []
    ledger.record_sent(key, token="t1", provider_ids=["id-1"])
    # a key with a record keeps it: an unreadable copy changes nothing
    record = ledger.record_unreadable(key, error="EnvelopeError: late copy")
    assert record.state is LedgerState.SENT and ledger.unreadable() == []


def _run_celery_task(ledger: SendLedger, body: Any) -> dict[str, Any]:
    celery_twofactor = pytest.importorskip("celery_twofactor")
    transport = InMemoryTransport(load_entrypoints=False)
    previous = celery_twofactor._provider
    celery_twofactor.set_sender_provider(lambda: BackgroundSender(transport, ledger))
    try:
        result: dict[str, Any] = celery_twofactor.send_envelope.apply(args=[body]).get()
    finally:
        celery_twofactor.set_sender_provider(previous)
    assert transport.outbox == []  # nothing was sent
    return result


@pytest.mark.parametrize("what", sorted(BAD_BODIES))
def test_the_celery_task_records_what_it_cannot_read_in_each_ledger(
    ledger: SendLedger, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = f"bad-{uuid.uuid4().hex[:8]}"
    body = BAD_BODIES[what](key)
    result = _run_celery_task(ledger, body)
    record_key = expected_key(body, key)
    assert [r.levelname for r in caplog.records if record_key in r.getMessage()] == ["ERROR"]
    assert result["status"] == "unreadable" and result["key"] == record_key
    record = ledger.get(record_key)
    assert record is not None and record.state is LedgerState.UNREADABLE
    assert record.error.startswith("EnvelopeError:")
    assert [r.key for r in ledger.unreadable()] == [record_key]
    # the same body again lands on the same record
    _run_celery_task(ledger, body)
    assert [r.key for r in ledger.unreadable()] == [record_key]


# -- Django's task framework ------------------------------------------------------------------


@pytest.fixture
def django_tasks(
    request: pytest.FixtureRequest, twofactor_emulator: Emulator
) -> Iterator[Callable[[str], Any]]:
    """The Django task on the immediate backend, with BACKGROUND's ledger set by the test."""
    # the core's env has no Django (nor pytest-django's ``settings``): skip, do not error
    pytest.importorskip("django", reason="the Django task needs Django")
    if importlib.util.find_spec("django.tasks") is None:
        pytest.importorskip("django_tasks", reason="needs Django 6 or the django-tasks backport")
    settings = request.getfixturevalue("settings")
    from tests.django.conftest import emulator_settings
    from tests.django.test_tasks import IMMEDIATE

    settings.TASKS = {"default": {"BACKEND": IMMEDIATE, "QUEUES": []}}
    prefix = f"tfn-unreadable-{uuid.uuid4().hex}:"
    clients: list[Any] = []

    def configure(kind: str) -> Any:
        background: dict[str, Any] = {"ENGINE": "django-tasks", "LEDGER": kind}
        if kind == "redis":
            if not REDIS_URL:
                pytest.skip(NEEDS_REDIS)
            import redis

            clients.append(redis.Redis.from_url(REDIS_URL))
            background.update(REDIS_URL=REDIS_URL, KEY_PREFIX=prefix)
        settings.TWOFACTOR_NOTIFY = emulator_settings(
            twofactor_emulator, BACKGROUND={**background, "ACCOUNT_RATE_LIMIT": None}
        )
        from django_twofactor.background import get_ledger

        return get_ledger()

    yield configure
    for client in clients:
        for name in client.scan_iter(match=prefix + "*"):
            client.delete(name)
        client.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["database", "redis"])
@pytest.mark.parametrize("what", sorted(BAD_BODIES))
def test_the_django_task_records_what_it_cannot_read_in_each_ledger(
    django_tasks: Callable[[str], Any], twofactor_emulator: Emulator, kind: str, what: str
) -> None:
    from io import StringIO

    from django.core.management import call_command

    from django_twofactor.tasks import send_envelope

    ledger = django_tasks(kind)
    key = f"bad-{uuid.uuid4().hex[:8]}"
    body = BAD_BODIES[what](key)
    result = send_envelope.using(queue_name="default").enqueue(body).return_value
    record_key = expected_key(body, key)
    assert result["status"] == "unreadable" and result["key"] == record_key
    record = ledger.get(record_key)
    assert record is not None and record.state is LedgerState.UNREADABLE
    assert twofactor_emulator.messages() == []
    out = StringIO()
    call_command("twofactor_status", "--unreadable", stdout=out)
    assert record_key in out.getvalue() and "Upgrade the workers" in out.getvalue()
    out = StringIO()
    call_command("twofactor_status", stdout=out)
    assert "1 unreadable" in out.getvalue()
    if what == "a newer version":
        _queued_then_refused_then_sent_once(ledger, kind, twofactor_emulator)


def _queued_then_refused_then_sent_once(ledger: Any, kind: str, emulator: Emulator) -> None:
    """A message queued here (not sent yet), whose task an older worker could not read: its
    log rows say so and stay ``task_queued``; once readable, the same key is sent, once."""
    from io import StringIO

    from django.core.management import call_command

    from django_twofactor.ledger import DatabaseLedger, queue_log_rows
    from django_twofactor.models import MessageStatus, OutgoingMessage
    from django_twofactor.tasks import send_envelope

    key = f"newer-{uuid.uuid4().hex[:8]}"
    envelope = Envelope.from_dict(good(key))
    if kind == "database":
        DatabaseLedger().queue(envelope)  # its task is what the older worker refuses
    else:
        queue_log_rows(envelope)
    send_envelope.using(queue_name="default").enqueue({**envelope.to_dict(), "v": 2})
    rows = OutgoingMessage.objects.filter(queue_key=key)
    assert [(r.status, r.error) for r in rows] == [
        (MessageStatus.TASK_QUEUED, "unreadable envelope")
    ]
    assert emulator.messages() == []
    if kind == "database":  # the ledger kept the envelope: the re-publisher hands it over
        call_command("twofactor_requeue", "--older-than", "0", stdout=StringIO())
        call_command("twofactor_requeue", "--older-than", "0", stdout=StringIO())
    else:  # the producer queues it again under its key
        send_envelope.using(queue_name="default").enqueue(envelope.to_dict())
        send_envelope.using(queue_name="default").enqueue(envelope.to_dict())
    assert [m.text for m in emulator.messages()] == ["hello"]
    record = ledger.get(key)
    assert record is not None and record.state is LedgerState.SENT
    assert [r.status for r in rows.all()] == [MessageStatus.QUEUED]


# -- a real Celery worker over a real Redis broker ---------------------------------------------


@pytest.fixture
def redis_worker(redis_client: Any, redis_prefix: str, tmp_path: Path) -> Iterator[Any]:
    pytest.importorskip("celery")
    from .workers import Workers, worker_env

    with Emulator() as emulator:
        env = worker_env(REDIS_URL, redis_prefix, emulator.url, emulator.api_key)
        group = Workers(env, tmp_path)
        group.emulator = emulator  # type: ignore[attr-defined]
        yield group
        group.stop()


def test_a_real_worker_records_a_newer_envelope_and_sends_a_readable_one_once(
    redis_worker: Any, redis_client: Any
) -> None:
    from celery_twofactor import TASK_NAME
    from tests.background.celery_worker import make_app
    from twofactor_notify.background.redis_ledger import RedisLedger

    from .workers import VISIBILITY_TIMEOUT, wait_until

    env = redis_worker.env
    app = make_app(REDIS_URL, env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT)
    ledger = RedisLedger(redis_client, prefix=env["TFN_LEDGER_PREFIX"])
    body = {**good("from-the-future"), "v": 2}
    app.send_task(TASK_NAME, args=[body])
    app.send_task(TASK_NAME, args=["not json at all"])
    redis_worker.start(concurrency=2)
    wait_until(lambda: len(ledger.unreadable()) == 2, 60, "both to be recorded unreadable")
    keys = {r.key for r in ledger.unreadable()}
    assert keys == {"from-the-future", unreadable_key("not json at all")}
    # the workers were upgraded and the message queued again under its key: sent once
    app.send_task(TASK_NAME, args=[good("from-the-future")])
    app.send_task(TASK_NAME, args=[good("from-the-future")])
    wait_until(
        lambda: (r := ledger.get("from-the-future")) is not None and r.state.final, 60, "send"
    )
    wait_until(lambda: not redis_client.llen(env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]), 30, "drain")
    assert [m.text for m in redis_worker.emulator.messages()] == ["hello"]
    assert [r.key for r in ledger.unreadable()] == [unreadable_key("not json at all")]


def test_an_unreadable_message_dropped_for_good_is_resolved_as_failed(ledger: SendLedger) -> None:
    from twofactor_notify.errors import InvalidInputError

    key = unreadable_key("a body nobody can read")
    ledger.record_unreadable(key, error="EnvelopeError: an envelope is a JSON object")
    with pytest.raises(InvalidInputError):
        ledger.resolve(key, state=LedgerState.SENT, note="it was never sent")
    record = ledger.resolve(key, state=LedgerState.FAILED, note="dropped: a hand-made test task")
    assert record.state is LedgerState.FAILED and record.note.startswith("dropped")
    assert ledger.unreadable() == []
    # final now: a delivery of the key is not sent
    assert not ledger.claim(Envelope.from_dict(good(key)), token="t", lease=60).granted
