"""Management commands: twofactor_send_test, twofactor_status, twofactor_purge."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_twofactor.models import ClickReport, DeliveryReport, OutgoingMessage
from twofactor_notify.emulator import Emulator

from .conftest import OTHER_PHONE, PHONE, base_settings

pytestmark = pytest.mark.django_db


def run(*args: Any, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_send_test_otp_through_the_emulator_never_echoes_secrets(on_emulator: Emulator) -> None:
    out = run("twofactor_send_test", "9876543210", "--otp")
    assert f"OTP sent to {PHONE}" in out
    code = on_emulator.last_otp(PHONE)
    assert code is not None
    assert on_emulator.api_key not in out and code not in out


def test_send_test_sms(on_emulator: Emulator) -> None:
    out = run("twofactor_send_test", PHONE, "--sms", "Hello from twofactor-notify")
    assert "SMS queued to" in out
    (record,) = on_emulator.messages(PHONE)
    assert record.text == "Hello from twofactor-notify" and record.sender == "TFACTR"


def test_send_test_errors_are_command_errors_without_secrets(on_emulator: Emulator) -> None:
    on_emulator.inject("status", status=400, times=1)
    with pytest.raises(CommandError) as info:
        run("twofactor_send_test", PHONE, "--otp")
    assert on_emulator.api_key not in str(info.value)
    with pytest.raises(CommandError):
        run("twofactor_send_test", PHONE)  # neither --otp nor --sms


def test_status_lists_recent_messages(settings: Any) -> None:
    run("twofactor_send_test", PHONE, "--otp")
    run("twofactor_send_test", OTHER_PHONE, "--sms", "hi")
    out = run("twofactor_status")
    assert PHONE in out and OTHER_PHONE in out and "queued" in out
    only = run("twofactor_status", "--phone", "98123 45678")
    assert OTHER_PHONE in only and PHONE not in only
    assert len(run("twofactor_status", "--limit", "1").strip().splitlines()) == 2
    OutgoingMessage.objects.all().delete()
    assert "No messages." in run("twofactor_status")
    with pytest.raises(CommandError):
        run("twofactor_status", "--phone", "nope")


def make_rows(age_days: int) -> None:
    then = timezone.now() - timedelta(days=age_days)
    msg = OutgoingMessage.objects.create(recipient=PHONE, kind="sms")
    rep = DeliveryReport.objects.create(
        dedupe_key=f"d{age_days}", message_id="m", status="DELIVERED"
    )
    click = ClickReport.objects.create(dedupe_key=f"c{age_days}", phone=PHONE)
    OutgoingMessage.objects.filter(pk=msg.pk).update(created_at=then)
    DeliveryReport.objects.filter(pk=rep.pk).update(received_at=then)
    ClickReport.objects.filter(pk=click.pk).update(received_at=then)


def test_purge_dry_run_then_delete(settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(LOG_RETENTION_DAYS=30)
    make_rows(age_days=45)
    make_rows(age_days=5)
    out = run("twofactor_purge", "--dry-run")
    assert "Would delete 1 outgoing SMS" in out and "1 delivery reports" in out
    assert OutgoingMessage.objects.count() == 2
    out = run("twofactor_purge")
    assert "Deleted 1 outgoing SMS older than 30 days" in out
    assert OutgoingMessage.objects.count() == DeliveryReport.objects.count() == 1
    assert ClickReport.objects.count() == 1
    run("twofactor_purge", "--days", "1")
    assert not OutgoingMessage.objects.exists() and not ClickReport.objects.exists()


def test_purge_needs_a_retention(settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(LOG_RETENTION_DAYS=None)
    with pytest.raises(CommandError, match="--days"):
        run("twofactor_purge")
    with pytest.raises(CommandError):
        run("twofactor_purge", "--days", "-1")


def test_purge_forgets_final_queued_messages_but_keeps_what_waits_for_a_human(
    settings: Any,
) -> None:
    from django_twofactor.models import QueuedMessage, QueuedState

    settings.TWOFACTOR_NOTIFY = base_settings(LOG_RETENTION_DAYS=30)
    then = timezone.now() - timedelta(days=45)
    for state in QueuedState.values:
        QueuedMessage.objects.create(key=f"old-{state}", state=state, kind="sms", updated_at=then)
        QueuedMessage.objects.create(
            key=f"new-{state}", state=state, kind="sms", updated_at=timezone.now()
        )
    out = run("twofactor_purge")
    assert "Deleted 2 queued SMS older than 30 days" in out
    assert set(QueuedMessage.objects.values_list("key", flat=True)) == {
        f"{age}-{state}"
        for age in ("old", "new")
        for state in QueuedState.values
        if age == "new" or state not in ("sent", "failed")
    }


def _shipped_ledgers() -> list[Any]:
    """Every ledger BACKGROUND['LEDGER'] accepts: the core's Redis one and the app's own."""
    from django_twofactor.background import LEDGERS

    return ["redis", *LEDGERS]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", _shipped_ledgers())
def test_status_reads_the_configured_ledger_whatever_its_kind(settings: Any, kind: str) -> None:
    import uuid

    from django_twofactor.background import get_ledger
    from django_twofactor.models import MessageStatus
    from tests.background.conftest import NEEDS_REDIS, REDIS_URL
    from twofactor_notify.background import Envelope
    from twofactor_notify.models import SMSMessage

    background: dict[str, Any] = {"ENGINE": "django-tasks", "LEDGER": kind}
    prefix = f"tfn-status-{uuid.uuid4().hex}:"
    if kind == "redis":
        if not REDIS_URL:
            pytest.skip(NEEDS_REDIS)
        background.update(REDIS_URL=REDIS_URL, KEY_PREFIX=prefix)
    settings.TWOFACTOR_NOTIFY = base_settings(BACKGROUND=background)
    ledger = get_ledger()
    try:
        assert "No unknown outcomes." in run("twofactor_status", "--unknown")
        keys = [f"status-{kind}-{n}" for n in range(3)]
        for key in keys:
            envelope = Envelope.wrap(
                SMSMessage(to=(PHONE,), text="hello", sender="TFACTR"), key=key
            )
            assert ledger.claim(envelope, token="t", lease=60).granted
            ledger.record_unknown(key, token="t", error="TransportError: timed out")
        listed = run("twofactor_status", "--unknown")
        assert all(key in listed for key in keys), listed
        # the way to resolve them is the one this ledger has: the admin only for its own table
        from django_twofactor.ledger import DatabaseLedger

        has_admin = isinstance(ledger, DatabaseLedger)
        assert ("in the admin" in listed) is has_admin, listed
        assert ("resolve(key" in listed) is not has_admin, listed
        assert "3 unknown" in run("twofactor_status")
        # a log row whose task never came is listed as stuck, not before its time
        OutgoingMessage.objects.create(
            kind="sms", recipient=OTHER_PHONE, status=MessageStatus.TASK_QUEUED, queue_key="lost-1"
        )
        assert "lost-1" not in run("twofactor_status", "--stuck-minutes", "10")
        assert "lost-1" in run("twofactor_status", "--stuck-minutes", "0")
    finally:
        if kind == "redis":
            client = getattr(ledger, "inner", ledger).client
            for name in client.scan_iter(match=prefix + "*"):
                client.delete(name)
