"""ENGINE "django-tasks" with the database ledger, in process: Django's task framework on its
immediate backend (the task runs when it is enqueued, i.e. when the transaction commits)
against the emulator; the message log's states; the admin's deliberate "send again";
``twofactor_status`` and ``twofactor_requeue``. The real worker is in test_tasks_worker.py."""

from __future__ import annotations

import importlib.util
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from django_twofactor import send_mass_sms, send_sms
from django_twofactor.ledger import DatabaseLedger
from django_twofactor.models import MessageStatus, OutgoingMessage, QueuedMessage, QueuedState
from twofactor_notify.background import Envelope
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.models import SMSMessage

from .conftest import emulator_settings

if importlib.util.find_spec("django.tasks") is None:
    pytest.importorskip("django_tasks", reason="needs Django 6 or the django-tasks backport")

PHONE = "+919876543210"
OTHER = "+919812345678"
IMMEDIATE = (
    "django.tasks.backends.immediate.ImmediateBackend"
    if importlib.util.find_spec("django.tasks")
    else "django_tasks.backends.immediate.ImmediateBackend"
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tasks(settings: Any, twofactor_emulator: Emulator) -> Emulator:
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator,
        BACKGROUND={"ENGINE": "django-tasks", "LEDGER": "database", "ACCOUNT_RATE_LIMIT": None},
    )
    return twofactor_emulator


def texts(emulator: Emulator) -> list[str]:
    return [m.text for m in emulator.messages()]


def test_queued_after_commit_sent_once_and_logged_from_queue_to_2factor_id(
    tasks: Emulator,
) -> None:
    with transaction.atomic():
        envelope = send_sms([PHONE, OTHER], "shipped", background=True, key="order-1")
        assert envelope is not None and envelope.key == "order-1"
        # queued, not sent: the rows exist, in the transaction, before the commit
        assert texts(tasks) == []
        row = QueuedMessage.objects.get(key="order-1")
        assert row.state == QueuedState.QUEUED and row.recipients == [PHONE, OTHER]
        assert set(OutgoingMessage.objects.values_list("status", flat=True)) == {
            MessageStatus.TASK_QUEUED
        }
    assert sorted((m.to, m.text) for m in tasks.messages()) == [
        (OTHER, "shipped"),
        (PHONE, "shipped"),
    ]
    row = QueuedMessage.objects.get(key="order-1")
    sent = tasks.messages()[0]  # one request, one id for both numbers
    assert row.state == QueuedState.SENT and row.provider_ids == [sent.id]
    assert row.envelope == {}  # nothing left to send again: the text is not kept
    log = OutgoingMessage.objects.order_by("pk")
    assert [(r.recipient, r.status, r.provider_id, r.queue_key) for r in log] == [
        (PHONE, MessageStatus.QUEUED, sent.id, "order-1"),
        (OTHER, MessageStatus.QUEUED, sent.id, "order-1"),
    ]
    # the same key again (a double click): still one SMS
    send_sms([PHONE, OTHER], "shipped", background=True, key="order-1")
    assert texts(tasks) == ["shipped", "shipped"]
    assert OutgoingMessage.objects.count() == 2


def test_a_rolled_back_transaction_queues_and_sends_nothing(tasks: Emulator) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        send_sms(PHONE, "never", background=True)
        send_mass_sms([(PHONE, "never either")], background=True)
        raise RuntimeError("the view failed")
    assert texts(tasks) == []
    assert not QueuedMessage.objects.exists()
    assert not OutgoingMessage.objects.exists()


def test_a_bulk_batch_fills_each_row_with_its_own_id(tasks: Emulator) -> None:
    send_mass_sms([(PHONE, "one"), (OTHER, "two")], background=True, key="batch")
    by_text = {m.text: m.id for m in tasks.messages()}
    rows = OutgoingMessage.objects.order_by("pk")
    assert [(r.recipient, r.status, r.provider_id) for r in rows] == [
        (PHONE, MessageStatus.QUEUED, by_text["one"]),
        (OTHER, MessageStatus.QUEUED, by_text["two"]),
    ]
    assert QueuedMessage.objects.get(key="batch:0").state == QueuedState.SENT


def unknown_outcome(key: str = "lost-1") -> None:
    """A message whose worker died mid-send: claimed, lease run out, found by a sweep."""
    ledger = DatabaseLedger()
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="maybe", sender="TFACTR"), key=key)
    with transaction.atomic():
        ledger.queue(envelope)
    assert ledger.claim(envelope, token="dead-worker", lease=-1).granted
    assert OutgoingMessage.objects.get(queue_key=key).status == MessageStatus.SENDING
    ledger.sweep()


def test_a_dead_workers_claim_is_shown_unknown_by_twofactor_status(tasks: Emulator) -> None:
    ledger = DatabaseLedger()
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="maybe", sender="TFACTR"), key="k-1")
    ledger.queue(envelope)
    assert ledger.claim(envelope, token="dead-worker", lease=-1).granted
    out = StringIO()
    call_command("twofactor_status", stdout=out)  # records the dead claim as unknown
    assert "1 unknown" in out.getvalue() and "unknown" in out.getvalue().split("\n")[-2]
    assert OutgoingMessage.objects.get(queue_key="k-1").status == MessageStatus.UNKNOWN
    out = StringIO()
    call_command("twofactor_status", "--unknown", stdout=out)
    assert "k-1" in out.getvalue() and PHONE in out.getvalue()
    assert "stopped before recording an outcome" in out.getvalue()
    assert texts(tasks) == []  # and nothing was sent by looking


def admin_client(*, may_resolve: bool) -> tuple[Client, User]:
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    names = ["view_queuedmessage"] + (["resolve_queuedmessage"] if may_resolve else [])
    user.user_permissions.add(*Permission.objects.filter(codename__in=names))
    client = Client()
    client.force_login(user)
    return client, user


def act(client: Client, action: str, key: str) -> Any:
    pk = QueuedMessage.objects.get(key=key).pk
    return client.post(
        "/admin/django_twofactor/queuedmessage/",
        {"action": action, "_selected_action": [str(pk)]},
        follow=True,
    )


def test_the_admin_sends_an_unknown_again_under_a_new_key_recording_who(
    tasks: Emulator,
) -> None:
    unknown_outcome("lost-1")
    client, _ = admin_client(may_resolve=True)
    page = client.get("/admin/django_twofactor/queuedmessage/?state__exact=unknown")
    assert page.status_code == 200 and b"lost-1" in page.content and PHONE.encode() in page.content
    act(client, "send_again", "lost-1")
    old = QueuedMessage.objects.get(key="lost-1")
    assert old.state == QueuedState.FAILED and old.resent_by == "ops"
    assert old.resent_at is not None and old.resent_as not in ("", "lost-1")
    assert "ops" in old.note and old.envelope == {}
    new = QueuedMessage.objects.get(key=old.resent_as)
    assert new.state == QueuedState.SENT and texts(tasks) == ["maybe"]
    # the old log row stays unknown (nobody knows whether it went) and says what followed
    old_row = OutgoingMessage.objects.get(queue_key="lost-1")
    assert (old_row.status, old_row.error) == (MessageStatus.UNKNOWN, "sent again")
    assert OutgoingMessage.objects.get(queue_key=new.key).status == MessageStatus.QUEUED
    # a second click finds nothing unknown: still one SMS
    act(client, "send_again", "lost-1")
    assert texts(tasks) == ["maybe"]


def test_resolving_records_the_verdict_and_sends_nothing(tasks: Emulator) -> None:
    unknown_outcome("seen")
    unknown_outcome("not-seen")
    client, _ = admin_client(may_resolve=True)
    act(client, "resolve_sent", "seen")
    act(client, "resolve_failed", "not-seen")
    seen, not_seen = (QueuedMessage.objects.get(key=k) for k in ("seen", "not-seen"))
    assert seen.state == QueuedState.SENT and "ops" in seen.note
    assert not_seen.state == QueuedState.FAILED and "ops" in not_seen.note
    seen_row = OutgoingMessage.objects.get(queue_key="seen")
    not_seen_row = OutgoingMessage.objects.get(queue_key="not-seen")
    # the row says the verdict, not the error of the worker that died
    assert (seen_row.status, seen_row.error) == (MessageStatus.QUEUED, "resolved as sent")
    assert (not_seen_row.status, not_seen_row.error) == (MessageStatus.ERROR, "resolved as failed")
    assert texts(tasks) == []


def test_viewing_the_page_is_not_enough_to_send_again(tasks: Emulator) -> None:
    unknown_outcome("lost-2")
    client, _ = admin_client(may_resolve=False)
    page = client.get("/admin/django_twofactor/queuedmessage/")
    assert page.status_code == 200 and b"send_again" not in page.content
    act(client, "send_again", "lost-2")
    assert QueuedMessage.objects.get(key="lost-2").state == QueuedState.UNKNOWN
    assert texts(tasks) == []


def test_twofactor_requeue_hands_a_lost_tasks_envelope_over_once(tasks: Emulator) -> None:
    ledger = DatabaseLedger()
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="lost task", sender="TFACTR"))
    ledger.queue(envelope)  # queued, but its task never ran (a killed worker had taken it)
    out = StringIO()
    call_command("twofactor_requeue", "--older-than", "0", "--dry-run", stdout=out)
    assert envelope.key in out.getvalue() and texts(tasks) == []
    call_command("twofactor_requeue", "--older-than", "0", stdout=StringIO())
    assert texts(tasks) == ["lost task"]
    call_command("twofactor_requeue", "--older-than", "0", stdout=StringIO())
    assert texts(tasks) == ["lost task"]
    assert QueuedMessage.objects.get(key=envelope.key).state == QueuedState.SENT


def test_a_send_proven_not_sent_is_enqueued_again_and_sent_once(tasks: Emulator) -> None:
    # 2Factor answers 503 once (the request had no effect): retry_wait, then the task is
    # enqueued again and the second try goes through
    tasks.faults.add("status", status=503, times=1)
    send_sms(PHONE, "after a 503", background=True, key="retry-1")
    assert texts(tasks) == ["after a 503"]
    row = QueuedMessage.objects.get(key="retry-1")
    assert row.state == QueuedState.SENT and row.attempts == 2
    assert OutgoingMessage.objects.get(queue_key="retry-1").status == MessageStatus.QUEUED


def test_an_otps_envelope_is_never_stored_so_it_cannot_be_sent_again(tasks: Emulator) -> None:
    from twofactor_notify.errors import InvalidInputError
    from twofactor_notify.models import OTPMessage

    ledger = DatabaseLedger()
    envelope = Envelope.wrap(OTPMessage(to=PHONE, otp="123456"), key="otp-1")
    ledger.queue(envelope)
    row = QueuedMessage.objects.get(key="otp-1")
    assert row.envelope == {} and "123456" not in str(row.__dict__)
    assert ledger.claim(envelope, token="dead", lease=-1).granted
    ledger.sweep()
    with pytest.raises(InvalidInputError) as info:
        ledger.send_again("otp-1", by="ops")
    assert info.value.field == "key"
    assert QueuedMessage.objects.get(key="otp-1").state == QueuedState.UNKNOWN


def test_without_a_redis_url_the_throttle_is_per_process(tasks: Emulator, settings: Any) -> None:
    from django_twofactor.background import get_background_sender
    from twofactor_notify.background import LocalThrottle

    settings.TWOFACTOR_NOTIFY = {
        **settings.TWOFACTOR_NOTIFY,
        "BACKGROUND": {"ENGINE": "django-tasks", "LEDGER": "database"},
    }
    sender = get_background_sender()
    assert isinstance(sender.ledger, DatabaseLedger)
    assert isinstance(sender.throttle, LocalThrottle)


@pytest.fixture(params=["database", "redis"])
def on_each_ledger(request: pytest.FixtureRequest, settings: Any, tasks: Emulator) -> str:
    """The django-tasks engine on each ledger the app offers (Redis only when there is one)."""
    import uuid

    background: dict[str, Any] = {"ENGINE": "django-tasks", "ACCOUNT_RATE_LIMIT": None}
    if request.param == "redis":
        from tests.background.conftest import NEEDS_REDIS, REDIS_URL

        if not REDIS_URL:
            pytest.skip(NEEDS_REDIS)
        prefix = f"tfn-test-{uuid.uuid4().hex}:"
        background.update(LEDGER="redis", REDIS_URL=REDIS_URL, KEY_PREFIX=prefix)

        def clean() -> None:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
            client.close()

        request.addfinalizer(clean)
    else:
        background["LEDGER"] = "database"
    settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "BACKGROUND": background}
    return str(request.param)


def log_of(key: str) -> list[tuple[str, str, str]]:
    rows = OutgoingMessage.objects.filter(queue_key=key).order_by("pk")
    return [(r.recipient, r.status, r.provider_id) for r in rows]


def test_the_log_tells_the_truth_on_every_ledger(on_each_ledger: str, tasks: Emulator) -> None:
    # rolled back: no rows, nothing sent
    with pytest.raises(RuntimeError), transaction.atomic():
        send_sms(PHONE, "never", background=True, key="rolled-back")
        raise RuntimeError
    assert log_of("rolled-back") == [] and texts(tasks) == []
    # queued: a row per recipient before the commit; 2Factor's id after the send
    with transaction.atomic():
        send_sms([PHONE, OTHER], "sent", background=True, key="ok")
        assert log_of("ok") == [
            (PHONE, MessageStatus.TASK_QUEUED, ""),
            (OTHER, MessageStatus.TASK_QUEUED, ""),
        ]
    [one, _] = tasks.messages()
    assert log_of("ok") == [(PHONE, MessageStatus.QUEUED, one.id), (OTHER, "queued", one.id)]
    # refused by 2Factor (never sent): error
    tasks.faults.add("status", status=400, times=1)
    send_sms(PHONE, "refused", background=True, key="refused")
    assert log_of("refused") == [(PHONE, MessageStatus.ERROR, "")]
    # the answer never came (it may have gone): unknown, and never sent again
    tasks.faults.add("reset_after", times=1)
    send_sms(PHONE, "maybe", background=True, key="maybe")
    assert log_of("maybe") == [(PHONE, MessageStatus.UNKNOWN, "")]
    send_sms(PHONE, "maybe", background=True, key="maybe")
    assert [m.text for m in tasks.messages()].count("maybe") == 1
    assert log_of("maybe") == [(PHONE, MessageStatus.UNKNOWN, "")]


def test_queue_names_the_task_frameworks_queue(settings: Any, tasks: Emulator) -> None:
    # the backend accepts only the "sms" queue: the send goes through only if QUEUE is used
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE, "QUEUES": ["sms"]}}
    background = {"ENGINE": "django-tasks", "LEDGER": "database", "QUEUE": "sms"}
    settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "BACKGROUND": background}
    send_sms(PHONE, "on the sms queue", background=True)
    assert texts(tasks) == ["on the sms queue"]
    settings.TWOFACTOR_NOTIFY = {
        **settings.TWOFACTOR_NOTIFY,
        "BACKGROUND": {**background, "QUEUE": "other"},
    }
    with pytest.raises(ConfigurationError, match="'other'") as refused:
        send_sms(PHONE, "on a queue the backend does not have", background=True)
    assert "QUEUE" in str(refused.value) and "TASKS" in str(refused.value)
    assert texts(tasks) == ["on the sms queue"]
    # back to a queue it has: taken at once, nothing of the refused setting is kept
    settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "BACKGROUND": background}
    send_sms(PHONE, "on the sms queue again", background=True)
    assert texts(tasks) == ["on the sms queue", "on the sms queue again"]


def test_a_queue_refused_at_enqueue_time_is_a_configuration_error(
    settings: Any, tasks: Emulator
) -> None:
    """The task was defined on a queue the backend has; the backend changed under it."""
    from django_twofactor.tasks import enqueue

    settings.TASKS = {"default": {"BACKEND": IMMEDIATE, "QUEUES": ["sms"]}}
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="x", sender="TFACTR"))
    with pytest.raises(ConfigurationError) as refused:
        enqueue(envelope, queue="nosuchqueue")
    assert refused.value.key == "TWOFACTOR_NOTIFY['BACKGROUND']['QUEUE']"
    assert "nosuchqueue" in str(refused.value)


def test_the_admin_states_are_the_ledgers_and_a_waiting_key_never_reads_as_sent(
    tasks: Emulator,
) -> None:
    from twofactor_notify.background import LedgerState

    # every state the ledger moves a key through, plus "queued" (waiting, never claimed)
    assert set(QueuedState.values) == {"queued", *(state.value for state in LedgerState)}
    never_sent = {QueuedState.QUEUED, QueuedState.RETRY_WAIT, QueuedState.FAILED}
    for state in never_sent:
        assert "Sent" not in str(QueuedState(state).label), state
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="waiting", sender="TFACTR"))
    DatabaseLedger().queue(envelope)  # in the queue, its task not run yet
    assert DatabaseLedger().get(envelope.key) is None  # no record until a worker claims it
    client, _ = admin_client(may_resolve=False)
    page = client.get("/admin/django_twofactor/queuedmessage/?state__exact=queued")
    content = page.content.decode()
    assert page.status_code == 200 and envelope.key in content
    assert "In the task queue (not sent yet)" in content
    assert "Sent (2Factor queued it)" not in content
    for state in QueuedState.values:  # each filter of the page is a state a key can be in
        assert f"state__exact={state}" in content


def _ledgers() -> list[str]:
    from django_twofactor.background import LEDGERS

    return ["redis", *LEDGERS]


@pytest.mark.parametrize("ledger", _ledgers())
def test_a_key_names_one_message_a_different_one_under_it_is_refused(
    settings: Any, tasks: Emulator, ledger: str
) -> None:
    from tests.background.conftest import NEEDS_REDIS, REDIS_URL
    from twofactor_notify.errors import InvalidInputError

    key = f"sk2-{ledger}-{id(settings)}"
    background = dict(settings.TWOFACTOR_NOTIFY["BACKGROUND"], LEDGER=ledger)
    if ledger == "redis":
        if not REDIS_URL:
            pytest.skip(NEEDS_REDIS)
        background.update(REDIS_URL=REDIS_URL, KEY_PREFIX=f"tfn-{key}:")
    settings.TWOFACTOR_NOTIFY = dict(settings.TWOFACTOR_NOTIFY, BACKGROUND=background)
    try:
        with transaction.atomic():
            send_sms(PHONE, "text A", background=True, key=key)
            with pytest.raises(InvalidInputError) as refused:
                send_sms(OTHER, "text B", background=True, key=key)
            assert refused.value.field == "key" and key in str(refused.value)
            send_sms(PHONE, "text A", background=True, key=key)  # the same message: fine
        assert texts(tasks) == ["text A"]
        rows = list(OutgoingMessage.objects.filter(queue_key=key))
        assert [(r.recipient, r.status) for r in rows] == [(PHONE, MessageStatus.QUEUED)]
        assert rows[0].provider_id == tasks.messages()[0].id
    finally:
        if ledger == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for name in client.scan_iter(match=f"tfn-{key}:*"):
                client.delete(name)


@pytest.mark.parametrize("ledger_kind", _ledgers())
@pytest.mark.parametrize("verdict", ["sent", "failed"])
def test_a_resolution_replaces_the_log_rows_error_with_the_verdict(
    settings: Any, tasks: Emulator, ledger_kind: str, verdict: str
) -> None:
    from django_twofactor.background import get_ledger
    from django_twofactor.ledger import queue_log_rows
    from tests.background.conftest import NEEDS_REDIS, REDIS_URL
    from twofactor_notify.background import LedgerState

    key = f"resolve-{ledger_kind}-{verdict}"
    background = dict(settings.TWOFACTOR_NOTIFY["BACKGROUND"], LEDGER=ledger_kind)
    if ledger_kind == "redis":
        if not REDIS_URL:
            pytest.skip(NEEDS_REDIS)
        background.update(REDIS_URL=REDIS_URL, KEY_PREFIX=f"tfn-{key}-{id(settings)}:")
    settings.TWOFACTOR_NOTIFY = dict(settings.TWOFACTOR_NOTIFY, BACKGROUND=background)
    ledger = get_ledger()
    envelope = Envelope.wrap(SMSMessage(to=(PHONE,), text="maybe", sender="TFACTR"), key=key)
    try:
        if ledger_kind == "redis":
            queue_log_rows(envelope)
        else:
            DatabaseLedger().queue(envelope)
        assert ledger.claim(envelope, token="t", lease=60).granted
        ledger.record_unknown(key, token="t", error="TransportError: read timed out")
        assert "TransportError" in OutgoingMessage.objects.get(queue_key=key).error
        ledger.resolve(key, state=LedgerState(verdict), note="checked the reports")
        row = OutgoingMessage.objects.get(queue_key=key)
        expected = MessageStatus.QUEUED if verdict == "sent" else MessageStatus.ERROR
        assert (row.status, row.error) == (expected, f"resolved as {verdict}")
    finally:
        if ledger_kind == "redis":
            client = ledger.inner.client  # type: ignore[attr-defined]
            for name in client.scan_iter(match=background["KEY_PREFIX"] + "*"):
                client.delete(name)


DUMMY = IMMEDIATE.replace("immediate.ImmediateBackend", "dummy.DummyBackend")


@pytest.mark.parametrize("bad", [{"TYPO": 1}, {"LEASE_SECONDS": 2}])
def test_a_worker_that_cannot_build_its_sender_gives_the_message_back(
    settings: Any, tasks: Emulator, bad: dict[str, Any]
) -> None:
    """Nothing claimed, nothing lost: the envelope goes back to the backend, deferred, for a
    correctly configured worker, which sends it once."""
    from django_twofactor import tasks as task_module

    good = settings.TWOFACTOR_NOTIFY
    settings.TASKS = {"default": {"BACKEND": DUMMY}}
    payload = Envelope.wrap(
        SMSMessage(to=(PHONE,), text="given back", sender="TFACTR"), key="back-1"
    ).to_dict()
    settings.TWOFACTOR_NOTIFY = {**good, "BACKGROUND": {**good["BACKGROUND"], **bad}}
    backend = task_module.send_envelope.get_backend()
    result = task_module.send_envelope.call(payload)
    assert result["status"] == "given_back"
    [copy] = backend.results
    assert copy.args == [payload] and copy.task.run_after is not None
    assert texts(tasks) == []

    settings.TWOFACTOR_NOTIFY = good
    assert task_module.send_envelope.call(copy.args[0])["status"] == "sent"
    assert task_module.send_envelope.call(copy.args[0])["status"] != "sent"
    assert texts(tasks) == ["given back"]


def test_a_backend_that_cannot_defer_keeps_the_failed_task_instead(
    settings: Any, tasks: Emulator
) -> None:
    from django_twofactor import tasks as task_module
    from twofactor_notify.errors import ConfigurationError

    good = settings.TWOFACTOR_NOTIFY
    settings.TWOFACTOR_NOTIFY = {**good, "BACKGROUND": {**good["BACKGROUND"], "TYPO": 1}}
    payload = Envelope.wrap(SMSMessage(to=(PHONE,), text="x", sender="TFACTR"), key="k").to_dict()
    with pytest.raises(ConfigurationError, match="TYPO"):
        task_module.send_envelope.call(payload)
    assert texts(tasks) == []
