"""Nothing queued in the background is lost when the broker fails as the transaction commits:
the outbox keeps the envelope, the failure is recorded (not raised into the committed
request), and the re-publisher (``twofactor_requeue``, the Celery task, the Django task)
hands it over once the broker is back. Handing a message over twice still sends it once.

Real Redis broker, real Celery worker processes, the emulator; the broker is "down" by
pointing the producer at a port where nothing listens."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from django_twofactor import api
from django_twofactor.models import MessageStatus, OutboxMessage, OutgoingMessage, QueuedMessage
from tests.background.conftest import REDIS_URL
from tests.background.conftest import redis_client as redis_client
from tests.background.conftest import redis_prefix as redis_prefix
from tests.background.workers import VISIBILITY_TIMEOUT, Workers, wait_until, worker_env
from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import QueueUnavailableError
from twofactor_notify.models import OTPMessage

from .conftest import base_settings

pytest.importorskip("celery")
if importlib.util.find_spec("django.tasks") or importlib.util.find_spec("django_tasks"):
    # defined now, under the test settings' queue: the module reads BACKGROUND["QUEUE"] once,
    # and must not keep a queue name of a test below
    import django_twofactor.tasks  # noqa: F401
pytestmark = pytest.mark.django_db(transaction=True)
PHONE = "+919876543210"
#: The password of the dead broker's URL: it must appear in no error and no output.
BROKER_PASSWORD = "broker-pw-5d1e"


def _dead_port() -> int:
    """A port of this machine where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Brokers:
    """The producer's Celery app: ``down()`` points it at a dead port, ``up()`` back at Redis."""

    def __init__(self, env: dict[str, str]) -> None:
        from tests.background.celery_worker import make_app

        self.env = env
        self.good = make_app(REDIS_URL, env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT)
        dead = f"redis://:{BROKER_PASSWORD}@127.0.0.1:{_dead_port()}/6"
        self.dead = make_app(dead, env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT)

    def down(self) -> None:
        self.dead.set_current()

    def up(self) -> None:
        self.good.set_current()


@pytest.fixture(params=["redis", "database"])
def ledger_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def brokers(
    settings: Any, redis_prefix: str, twofactor_emulator: Emulator, ledger_kind: str
) -> Iterator[Brokers]:
    """BACKGROUND on Celery with the test's queue and ledger keys; the broker up."""
    env = worker_env(REDIS_URL, redis_prefix, twofactor_emulator.url, twofactor_emulator.api_key)
    background: dict[str, Any] = {
        "ENGINE": "celery",
        "LEDGER": ledger_kind,
        "REDIS_URL": REDIS_URL,
        "QUEUE": env["TFN_QUEUE"],
        # the workers' ledger is <prefix>ledger:, as BACKGROUND's is <KEY_PREFIX>ledger:
        "KEY_PREFIX": redis_prefix,
    }
    settings.TWOFACTOR_NOTIFY = base_settings(BACKGROUND=background)
    pair = Brokers(env)
    pair.up()
    yield pair
    pair.up()


@pytest.fixture
def workers(brokers: Brokers, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(brokers.env, tmp_path)
    yield group
    group.stop()


def queue_length(client: Any, env: dict[str, str]) -> int:
    return int(client.llen(env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]))


def status() -> str:
    out = StringIO()
    call_command("twofactor_status", stdout=out)
    return out.getvalue()


def requeue(*args: str) -> str:
    out = StringIO()
    call_command("twofactor_requeue", *args, stdout=out)
    return out.getvalue()


def sent_texts(emulator: Emulator) -> list[str]:
    return sorted(m.text for m in emulator.messages())


def test_a_broker_down_at_commit_loses_nothing_and_the_message_goes_once_it_is_back(
    brokers: Brokers, redis_client: Any, ledger_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    brokers.down()
    with transaction.atomic():  # the request commits; the hand-over fails after the COMMIT
        envelope = api.send_sms(PHONE, "broker was down", background=True, key="down-1")
    api.send_sms(PHONE, "and this one too", background=True, key="down-2")
    assert isinstance(envelope, Envelope)
    row = OutboxMessage.objects.get(key="down-1")
    assert (row.attempts, row.error) == (1, "OperationalError")
    assert Envelope.from_dict(row.envelope) == envelope
    assert [r.status for r in OutgoingMessage.objects.filter(queue_key="down-1")] == [
        MessageStatus.TASK_QUEUED
    ]
    if ledger_kind == "database":
        assert QueuedMessage.objects.get(key="down-1").state == "queued"
    assert any("down-1" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert "down-1" in status() and "failed 1x (OperationalError)" in status()
    from django.contrib.auth.models import User
    from django.test import Client

    admin = Client()
    admin.force_login(User.objects.create_superuser("ops", password="pw"))
    page = admin.get("/admin/django_twofactor/outboxmessage/")
    assert page.status_code == 200 and b"down-1" in page.content
    assert b"broker was down" not in page.content  # the envelope is not shown
    # the re-publisher leaves a row alone during its grace period, and says so when the
    # broker refuses again
    assert "0 handed over" in requeue()  # the default grace: 60 s
    assert "0 handed over" in requeue("--grace", "3600")
    with pytest.raises(CommandError, match="refused"):
        requeue("--grace", "0")
    # it stopped at the first refusal: the broker is down, the second would fail too
    attempts = dict(OutboxMessage.objects.values_list("key", "attempts"))
    assert attempts == {"down-1": 2, "down-2": 1}
    assert queue_length(redis_client, brokers.env) == 0
    brokers.up()
    assert "2 handed over" in requeue("--grace", "0")
    assert not OutboxMessage.objects.exists()
    assert queue_length(redis_client, brokers.env) == 2
    assert "0 handed over" in requeue("--grace", "0")  # nothing left to hand over
    assert queue_length(redis_client, brokers.env) == 2
    text = caplog.text + status()
    assert BROKER_PASSWORD not in text


@pytest.mark.parametrize("ledger_kind", ["redis"])  # the worker processes' ledger
def test_the_message_is_sent_exactly_once_after_the_broker_comes_back(
    brokers: Brokers, workers: Workers, redis_client: Any, twofactor_emulator: Emulator
) -> None:
    brokers.down()
    with transaction.atomic():
        api.send_sms(PHONE, "sent after the outage", background=True, key="outage-1")
    brokers.up()
    requeue("--grace", "0")
    workers.start(concurrency=2)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    wait_until(lambda: (r := ledger.get("outage-1")) is not None and r.state.final, 60, "send")
    requeue("--grace", "0")  # nothing waits any more: nothing handed over again
    wait_until(lambda: queue_length(redis_client, brokers.env) == 0, 30, "the queue to drain")
    assert sent_texts(twofactor_emulator) == ["sent after the outage"]
    record = ledger.get("outage-1")
    assert record is not None and record.state is LedgerState.SENT


@pytest.mark.parametrize("ledger_kind", ["redis"])
@pytest.mark.parametrize("when", ["before the worker took it", "after it was sent"])
def test_a_message_the_broker_did_take_and_the_republisher_hands_over_again_goes_once(
    brokers: Brokers,
    workers: Workers,
    redis_client: Any,
    twofactor_emulator: Emulator,
    when: str,
) -> None:
    from django_twofactor import outbox

    # the first hand-over succeeded, but its process died before it removed the outbox row
    # (the row is written back as it was): the re-publisher hands the message over again
    envelope = api.send_sms(PHONE, "handed over twice", background=True, key="twice-1")
    assert isinstance(envelope, Envelope)
    assert queue_length(redis_client, brokers.env) == 1 and not OutboxMessage.objects.exists()
    assert outbox.write(envelope)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    if when == "after it was sent":
        workers.start(concurrency=2)
        wait_until(lambda: (r := ledger.get("twice-1")) is not None and r.state.final, 60, "send")
    assert "1 handed over" in requeue("--grace", "0")
    if when == "before the worker took it":
        assert queue_length(redis_client, brokers.env) == 2  # two tasks, one key
        workers.start(concurrency=2)
    wait_until(lambda: queue_length(redis_client, brokers.env) == 0, 60, "both tasks to run")
    wait_until(lambda: (r := ledger.get("twice-1")) is not None and r.state.final, 60, "send")
    # the second task's worker finds the key final in the ledger and sends nothing
    unacked = workers.env["TFN_KEYPREFIX"] + "unacked"
    wait_until(lambda: not redis_client.hlen(unacked), 30, "both tasks to be acknowledged")
    assert sent_texts(twofactor_emulator) == ["handed over twice"]
    record = ledger.get("twice-1")
    assert record is not None and record.state is LedgerState.SENT and record.attempts == 1


@pytest.mark.parametrize("ledger_kind", ["redis"])
def test_a_message_the_broker_lost_before_a_worker_took_it_is_requeued_and_sent_once(
    brokers: Brokers, workers: Workers, redis_client: Any, twofactor_emulator: Emulator
) -> None:
    envelope = api.send_sms(PHONE, "lost by kombu", background=True, key="lost-1")
    assert isinstance(envelope, Envelope) and not OutboxMessage.objects.exists()
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    pending = workers.env["TFN_LEDGER_PREFIX"] + "pending"
    assert redis_client.zrange(pending, 0, -1) == [b"lost-1"]  # noted before the broker had it
    # the broker loses it, as Kombu does when a worker dies between BRPOP and its unacked hash
    assert redis_client.delete(brokers.env["TFN_KEYPREFIX"] + brokers.env["TFN_QUEUE"]) == 1
    assert "0 idle keys enqueued again" in requeue("--grace", "0")  # not idle long enough
    assert "1 idle keys enqueued again" in requeue("--grace", "0", "--older-than", "0")
    assert queue_length(redis_client, brokers.env) == 1
    workers.start(concurrency=2)
    wait_until(lambda: (r := ledger.get("lost-1")) is not None and r.state.final, 60, "send")
    record = ledger.get("lost-1")
    assert record is not None and record.state is LedgerState.SENT
    assert sent_texts(twofactor_emulator) == ["lost by kombu"]
    assert redis_client.zcard(pending) == 0  # claimed: nothing is left to enqueue again
    assert "0 idle keys enqueued again" in requeue("--grace", "0", "--older-than", "0")


@pytest.mark.parametrize("ledger_kind", ["redis"])
def test_the_celery_task_and_the_django_task_are_the_same_republisher(
    brokers: Brokers, redis_client: Any, settings: Any
) -> None:
    import celery_twofactor
    from django_twofactor.background import connect_worker

    brokers.down()
    api.send_sms(PHONE, "one", background=True, key="task-1")
    api.send_sms(PHONE, "two", background=True, key="task-2")
    assert OutboxMessage.objects.count() == 2
    brokers.up()
    connect_worker()  # as the app's ready() does when the engine is Celery
    result = celery_twofactor.republish.apply(kwargs={"grace": 0}).get()
    assert result["handed_over"] == 2 and result["keys"] == ["task-1", "task-2"]
    assert queue_length(redis_client, brokers.env) == 2
    if "django_twofactor.tasks" not in sys.modules:
        return  # the Django task needs Django 6 or the backport (the Celery one ran above)
    from tests.django.test_tasks import IMMEDIATE

    settings.TASKS = {"default": {"BACKEND": IMMEDIATE, "QUEUES": []}}  # any queue name
    brokers.down()
    api.send_sms(PHONE, "three", background=True, key="task-3")
    brokers.up()
    from django_twofactor.tasks import republish

    done = republish.using(queue_name="default").enqueue(grace=0)
    assert done.return_value["keys"] == ["task-3"]
    assert queue_length(redis_client, brokers.env) == 3 and not OutboxMessage.objects.exists()


@pytest.mark.parametrize("log", [True, False], ids=["log", "no-log"])
def test_an_otp_with_its_own_code_is_not_kept_so_a_failed_hand_over_raises(
    brokers: Brokers, redis_client: Any, settings: Any, ledger_kind: str, log: bool
) -> None:
    from django_twofactor.background import queue_message
    from django_twofactor.models import MessageStatus, OutgoingMessage, QueuedMessage

    settings.TWOFACTOR_NOTIFY = dict(settings.TWOFACTOR_NOTIFY, LOG_MESSAGES=log)
    brokers.down()
    code = "493817"
    with pytest.raises(QueueUnavailableError) as info, transaction.atomic():
        queue_message(OTPMessage(to=PHONE, otp=code), key="otp-own-code")
    error = info.value
    assert error.reason == "OperationalError" and "otp-own-code" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    for text in (str(error), repr(error)):
        assert code not in text and BROKER_PASSWORD not in text
    assert not OutboxMessage.objects.exists()  # no model holds an OTP value
    # nothing can hand it over again: nothing is left waiting for it
    rows = OutgoingMessage.objects.filter(queue_key="otp-own-code")
    assert [(r.status, r.error) for r in rows] == (
        [(MessageStatus.ERROR, "not handed over")] if log else []
    )
    if ledger_kind == "database":
        row = QueuedMessage.objects.get(key="otp-own-code")
        assert row.state == "failed" and row.error.startswith("not handed over")
    else:  # its note in the Redis ledger is gone too: the caller was told it failed
        assert not redis_client.exists(brokers.env["TFN_LEDGER_PREFIX"] + "pending")
    # a generated code is no secret: that OTP is kept and waits like any message
    queue_message(OTPMessage(to=PHONE), key="otp-generated")
    assert OutboxMessage.objects.get(key="otp-generated").attempts == 1


@pytest.mark.parametrize("ledger_kind", ["redis"])
def test_a_rolled_back_transaction_leaves_no_outbox_row(
    brokers: Brokers, redis_client: Any
) -> None:
    brokers.down()
    with pytest.raises(RuntimeError), transaction.atomic():
        api.send_sms(PHONE, "rolled back", background=True, key="rb-1")
        assert OutboxMessage.objects.filter(key="rb-1").exists()
        raise RuntimeError("the view failed")
    assert not OutboxMessage.objects.exists()
    brokers.up()
    requeue("--grace", "0")
    assert queue_length(redis_client, brokers.env) == 0
