"""Keys noted as queued in the Redis ledger, and the re-publisher that queues again what the
broker lost before any worker took it (real Redis)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import NOT_HANDED_OVER, RedisLedger
from twofactor_notify.background.requeue import requeue_unclaimed
from twofactor_notify.errors import QueueUnavailableError
from twofactor_notify.models import OTPMessage, SMSMessage

PHONE = "+919876543210"


def sms(key: str | None = None) -> Envelope:
    return Envelope.wrap(SMSMessage(to=(PHONE,), text="hi", sender="TFACTR"), key=key)


def own_code_otp() -> Envelope:
    return Envelope.wrap(OTPMessage(to=PHONE, otp="123456"))


@pytest.fixture
def ledger(redis_client: Any, redis_prefix: str) -> RedisLedger:
    return RedisLedger(redis_client, prefix=redis_prefix)


def pending(ledger: RedisLedger) -> list[str]:
    return [k.decode() for k in ledger.client.zrange(ledger.prefix + "pending", 0, -1)]


def kept(ledger: RedisLedger) -> list[str]:
    return [k.decode() for k in ledger.client.hkeys(ledger.prefix + "envelopes")]


def test_a_noted_key_nobody_claimed_comes_back_with_its_envelope(ledger: RedisLedger) -> None:
    envelope = sms()
    ledger.note_queued(envelope)
    assert pending(ledger) == [envelope.key] and kept(ledger) == [envelope.key]
    assert ledger.unclaimed(3600) == []  # not old enough
    [found] = ledger.unclaimed(0)
    assert found.key == envelope.key and found.envelope == envelope and found.error == ""
    # it is noted again as of now: a second re-publisher does not take it too
    assert ledger.unclaimed(3600) == []
    assert pending(ledger) == [envelope.key]
    assert ledger.get(envelope.key) is None  # nothing recorded: it is still to be sent


def test_the_claim_removes_the_note_whatever_its_answer(ledger: RedisLedger) -> None:
    first, second = sms(), sms()
    ledger.note_queued(first)
    assert ledger.claim(first, token=uuid.uuid4().hex, lease=60).granted
    assert pending(ledger) == [] and kept(ledger) == []
    assert ledger.unclaimed(0) == []
    # a copy queued again while the key is held: its claim is refused, and the note goes too
    ledger.note_queued(first)
    ledger.note_queued(second)
    assert not ledger.claim(first, token=uuid.uuid4().hex, lease=60).granted
    assert pending(ledger) == [second.key] and kept(ledger) == [second.key]


def test_a_copy_queued_after_its_key_was_sent_is_dropped_not_queued_again(
    ledger: RedisLedger,
) -> None:
    envelope = sms()
    mine = uuid.uuid4().hex
    assert ledger.claim(envelope, token=mine, lease=60).granted
    ledger.record_sent(envelope.key, token=mine, provider_ids=["id-1"])
    ledger.note_queued(envelope)  # queued again; a worker's first look would skip it
    assert ledger.unclaimed(0) == []
    assert pending(ledger) == [] and kept(ledger) == []
    record = ledger.get(envelope.key)
    assert record is not None and record.state is LedgerState.SENT


def test_a_released_key_noted_again_is_queued_again(ledger: RedisLedger) -> None:
    envelope = sms()
    mine = uuid.uuid4().hex
    assert ledger.claim(envelope, token=mine, lease=60).granted
    ledger.release(envelope.key, token=mine, error="503", max_attempts=5)
    ledger.note_queued(envelope)
    assert [u.envelope for u in ledger.unclaimed(0)] == [envelope]


def test_an_own_code_otp_is_noted_without_its_envelope_and_recorded_failed(
    ledger: RedisLedger,
) -> None:
    envelope = own_code_otp()
    ledger.note_queued(envelope)
    assert pending(ledger) == [envelope.key] and kept(ledger) == []
    [found] = ledger.unclaimed(0)
    assert found.key == envelope.key and found.envelope is None and found.error == NOT_HANDED_OVER
    record = ledger.get(envelope.key)
    assert record is not None and record.state is LedgerState.FAILED
    assert record.error == NOT_HANDED_OVER and record.kind == "otp"
    assert pending(ledger) == []
    # a late delivery of its task is not sent: the key is final
    assert not ledger.claim(envelope, token=uuid.uuid4().hex, lease=60).granted
    assert ledger.unclaimed(0) == []


def test_an_envelope_this_process_cannot_read_is_recorded_unreadable(ledger: RedisLedger) -> None:
    ledger.client.zadd(ledger.prefix + "pending", {"odd-1": 0})
    ledger.client.hset(ledger.prefix + "envelopes", "odd-1", '{"v": 99}')
    [found] = ledger.unclaimed(0)
    assert found.key == "odd-1" and found.envelope is None and "unreadable" in found.error
    record = ledger.get("odd-1")
    assert record is not None and record.state is LedgerState.UNREADABLE
    assert pending(ledger) == [] and kept(ledger) == []


def test_forget_queued_removes_the_note(ledger: RedisLedger) -> None:
    envelope = sms()
    ledger.note_queued(envelope)
    ledger.forget_queued(envelope)
    assert pending(ledger) == [] and kept(ledger) == []
    assert ledger.unclaimed(0) == []


def test_a_dry_run_changes_nothing(ledger: RedisLedger) -> None:
    envelope, otp = sms(), own_code_otp()
    ledger.note_queued(envelope)
    ledger.note_queued(otp)
    before = ledger.client.zrange(ledger.prefix + "pending", 0, -1, withscores=True)
    found = ledger.unclaimed(0, dry_run=True)
    assert {u.key for u in found} == {envelope.key, otp.key}
    assert ledger.client.zrange(ledger.prefix + "pending", 0, -1, withscores=True) == before
    assert ledger.get(otp.key) is None
    report = requeue_unclaimed(ledger, lambda e: pytest.fail("handed over"), grace=0, dry_run=True)
    assert report.requeued == (envelope.key,) and report.lost == (otp.key,)


def test_noting_costs_one_round_trip(redis_client: Any, redis_prefix: str) -> None:
    import redis

    commands: list[str] = []

    class CountingRedis(redis.Redis):  # type: ignore[misc,type-arg]
        def execute_command(self, *args: Any, **options: Any) -> Any:
            commands.append(str(args[0]))
            return super().execute_command(*args, **options)

    ledger = RedisLedger(
        CountingRedis(connection_pool=redis_client.connection_pool), prefix=redis_prefix
    )
    ledger.note_queued(sms())  # loads the script
    for envelope in (sms(), own_code_otp()):
        commands.clear()
        ledger.note_queued(envelope)
        assert len(commands) == 1, commands


def test_the_republisher_hands_over_each_unclaimed_envelope_once(ledger: RedisLedger) -> None:
    envelopes = [sms() for _ in range(3)]
    otp = own_code_otp()
    for envelope in (*envelopes, otp):
        ledger.note_queued(envelope)
    claimed = envelopes[0]
    assert ledger.claim(claimed, token=uuid.uuid4().hex, lease=60).granted
    handed: list[Envelope] = []
    report = requeue_unclaimed(ledger, handed.append, grace=0)
    assert sorted(e.key for e in handed) == sorted(e.key for e in envelopes[1:])
    assert handed[0] in envelopes[1:]
    assert sorted(report.requeued) == sorted(e.key for e in envelopes[1:])
    assert report.lost == (otp.key,) and report.refused == 0
    assert report.as_dict()["requeued"] == list(report.requeued)
    # run again at once, as a second beat would: nothing is due yet
    assert requeue_unclaimed(ledger, handed.append, grace=60).requeued == ()


def test_the_republisher_stops_at_the_first_refusal_and_keeps_the_notes(
    ledger: RedisLedger,
) -> None:
    envelopes = [sms() for _ in range(3)]
    for envelope in envelopes:
        ledger.note_queued(envelope)

    def refuse(envelope: Envelope) -> None:
        raise QueueUnavailableError("broker down", reason="OperationalError")

    report = requeue_unclaimed(ledger, refuse, grace=0)
    assert report.refused == 1 and report.requeued == ()
    assert sorted(pending(ledger)) == sorted(e.key for e in envelopes)
    handed: list[Envelope] = []
    assert requeue_unclaimed(ledger, handed.append, grace=0).refused == 0
    assert sorted(e.key for e in handed) == sorted(e.key for e in envelopes)


def test_a_worker_that_cannot_read_a_key_removes_its_note(ledger: RedisLedger) -> None:
    envelope = sms()
    ledger.note_queued(envelope)
    ledger.record_unreadable(envelope.key, error="unreadable envelope: v")
    assert pending(ledger) == [] and kept(ledger) == []
