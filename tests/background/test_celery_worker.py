"""A real Celery worker process, a real Redis broker, the emulator at 150 ms: kill -9 the
worker mid-stream, start another, and count what 2Factor received."""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.background.requeue import requeue_unclaimed
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import SMSMessage

from .conftest import REDIS_URL
from .workers import VISIBILITY_TIMEOUT, Workers, wait_until, worker_env

pytest.importorskip("celery")

PHONE = "+919876543210"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(latency_ms=150, delivery_delay=3600) as emu:
        yield emu


@pytest.fixture
def workers(
    redis_client: Any, redis_prefix: str, emulator: Emulator, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_env(REDIS_URL, redis_prefix, emulator.url, emulator.api_key)
    group = Workers(env, tmp_path)
    yield group
    group.stop()


def producer(workers: Workers) -> Any:
    from .celery_worker import make_app

    env = workers.env
    return make_app(
        env["TFN_BROKER_URL"], env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT
    )


def test_kill_9_mid_stream_sends_each_message_once_or_records_it_unknown(
    workers: Workers, emulator: Emulator, redis_client: Any
) -> None:
    from celery_twofactor import enqueue

    total = 2000
    app = producer(workers)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    keys = [f"chaos-{i}" for i in range(total)]
    first = workers.start()
    for key in keys:
        message = SMSMessage(to=(PHONE,), text=f"message {key}", sender="TFACTR")
        envelope = Envelope.wrap(message, key=key)
        ledger.note_queued(envelope)  # as the Flask and Django adapters do, before the broker
        enqueue(envelope, app=app)
    wait_until(lambda: len(emulator.messages()) >= 300, 60, "the first worker to get going")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = len(emulator.messages())
    assert at_kill < total, "the worker was killed after the stream ended"
    workers.start()

    def final() -> bool:
        pipe = redis_client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(workers.env["TFN_LEDGER_PREFIX"] + "k:" + key, "state")
        states = pipe.execute()
        return all(s in (b"sent", b"failed", b"unknown") for s in states)

    def drained() -> bool:
        # every key final, or the broker holds nothing more (a message Kombu lost between
        # BRPOP and its unacked hash is then only noted in the ledger, never claimed)
        return final() or (broker_empty(workers, redis_client) and not claims(ledger))

    try:
        wait_until(drained, 80, "the queue to drain")
        # what Celery beat would run (the task twofactor_notify.republish): every key noted
        # and never claimed is queued again
        lost = requeue_unclaimed(ledger, lambda e: enqueue(e, app=app), grace=1.0)
        assert lost.refused == 0 and lost.lost == ()
        print(f"queued again by the re-publisher: {len(lost.requeued)}")
        wait_until(final, 60, "the re-published messages")
    except AssertionError:
        states = collections.Counter(
            redis_client.hget(workers.env["TFN_LEDGER_PREFIX"] + "k:" + k, "state") for k in keys
        )
        logs = "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted(workers.log_dir.glob("*.log"))
        )
        raise AssertionError(f"not drained: {dict(states)}\n{logs}") from None
    received = collections.Counter(m.text.removeprefix("message ") for m in emulator.messages())
    records = {key: ledger.get(key) for key in keys}
    twice = [k for k, n in received.items() if n > 1]
    unknown = {k for k, r in records.items() if r is not None and r.state is LedgerState.UNKNOWN}
    neither = [k for k in keys if received[k] != 1 and k not in unknown]
    assert twice == []
    assert neither == []
    assert set(received) <= set(keys)
    # everything recorded sent was received, with the id 2Factor gave
    ids = {m.id for m in emulator.messages()}
    for key, record in records.items():
        assert record is not None
        if record.state is LedgerState.SENT:
            assert received[key] == 1 and set(record.provider_ids) <= ids
    # the second worker did finish the stream, and the unknowns are only the kill's in-flight
    assert len(emulator.messages()) > at_kill
    assert len(unknown) <= 16 + 16  # concurrency plus prefetched, at most
    print(f"received before the kill: {at_kill}; unknown: {len(unknown)}")


def broker_empty(workers: Workers, redis_client: Any) -> bool:
    """True when the test's queue and Kombu's unacknowledged messages are both empty."""
    prefix = workers.env["TFN_KEYPREFIX"]
    queued = sum(
        redis_client.llen(key)
        for key in redis_client.scan_iter(match=prefix + workers.env["TFN_QUEUE"] + "*")
    )
    return queued == 0 and redis_client.hlen(prefix + "unacked") == 0


def claims(ledger: RedisLedger) -> int:
    """Keys held by a worker, or waiting for a retry of their task."""
    return int(ledger.client.zcard(ledger.prefix + "sending")) + sum(
        1
        for key in ledger.client.scan_iter(match=ledger.prefix + "k:*")
        if ledger.client.hget(key, "state") == b"retry_wait"
    )


def test_a_message_the_broker_lost_is_queued_again_and_sent_once(
    workers: Workers, emulator: Emulator, redis_client: Any
) -> None:
    import json

    import celery_twofactor
    from celery_twofactor import enqueue

    app = producer(workers)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    envelopes = {
        key: Envelope.wrap(SMSMessage(to=(PHONE,), text=key, sender="TFACTR"), key=key)
        for key in ("lost-1", "kept-1")
    }
    for envelope in envelopes.values():
        ledger.note_queued(envelope)
        enqueue(envelope, app=app)
    # the broker loses one message, as Kombu does when a worker is killed between taking it
    # (BRPOP) and recording it unacknowledged
    queue = workers.env["TFN_KEYPREFIX"] + workers.env["TFN_QUEUE"]
    [lost] = [
        raw
        for raw in redis_client.lrange(queue, 0, -1)
        if json.loads(raw)["headers"]["argsrepr"] == "('lost-1',)"
    ]
    assert redis_client.lrem(queue, 1, lost) == 1
    workers.start(concurrency=2)
    wait_until(
        lambda: (r := ledger.get("kept-1")) is not None and r.state.final, 60, "the kept message"
    )
    wait_until(lambda: broker_empty(workers, redis_client), 30, "the broker to empty")
    assert ledger.get("lost-1") is None  # neither sent nor recorded: only its note is left

    # the task Celery beat runs, with a re-publisher of this test's queue
    def republisher(grace: float | None = None, older_than: float | None = None) -> Any:
        return requeue_unclaimed(ledger, lambda e: enqueue(e, app=app), grace=grace).as_dict()

    celery_twofactor.set_republisher(republisher)
    try:
        report = celery_twofactor.republish(grace=0.0)
        assert report == {"requeued": ["lost-1"], "lost": [], "refused": 0}
        wait_until(
            lambda: (r := ledger.get("lost-1")) is not None and r.state.final,
            60,
            "the re-published message",
        )
        # the claim removed its note: nothing is left to queue again
        assert celery_twofactor.republish(grace=0.0)["requeued"] == []
    finally:
        celery_twofactor.set_republisher(None)
    record = ledger.get("lost-1")
    assert record is not None and record.state is LedgerState.SENT
    assert sorted(m.text for m in emulator.messages()) == ["kept-1", "lost-1"]


def test_a_failure_proven_not_sent_is_retried_by_the_task_until_sent(
    workers: Workers, emulator: Emulator, redis_client: Any
) -> None:
    from celery_twofactor import enqueue

    emulator.inject("status", status=503, times=2)
    ledger = RedisLedger(redis_client, prefix=workers.env["TFN_LEDGER_PREFIX"])
    enqueue(
        Envelope.wrap(SMSMessage(to=(PHONE,), text="after 503", sender="TFACTR"), key="r-1"),
        app=producer(workers),
    )
    workers.start(concurrency=2)
    wait_until(
        lambda: (r := ledger.get("r-1")) is not None and r.state.final, 60, "the retried send"
    )
    record = ledger.get("r-1")
    assert record is not None and record.state is LedgerState.SENT and record.attempts == 3
    assert [m.text for m in emulator.messages()] == ["after 503"]


def test_the_task_message_names_only_the_key_for_logs(workers: Workers, redis_client: Any) -> None:
    import json

    from celery_twofactor import enqueue

    message = SMSMessage(to=(PHONE,), text="private text", sender="TFACTR")
    enqueue(Envelope.wrap(message, key="logged-key"), app=producer(workers))
    queue = workers.env["TFN_KEYPREFIX"] + workers.env["TFN_QUEUE"]
    raw = json.loads(redis_client.lindex(queue, 0))
    assert raw["headers"]["argsrepr"] == "('logged-key',)"
    assert raw["headers"]["kwargsrepr"] == "{}"
    assert "private text" not in json.dumps(raw["headers"])
    assert raw["headers"]["task"] == "twofactor_notify.send_envelope"
