"""send_enveloped against the emulator over real HTTP, with each ledger: at most once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from twofactor_notify.background import (
    BackgroundSender,
    Envelope,
    LedgerState,
    NoThrottle,
    RetryPolicy,
    SendLedger,
    SendOutcome,
    SendStatus,
    send_enveloped,
)
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.emulator.faults import FAULT_KINDS
from twofactor_notify.errors import InvalidPhoneNumberError, TwoFactorError
from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import BulkBatch, BulkMessage, OTPMessage, SMSMessage
from twofactor_notify.transport import TwoFactorTransport

PHONE = "+919876543210"
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def transport(twofactor_emulator: Emulator) -> Iterator[TwoFactorTransport]:
    client = TwoFactorClient(
        twofactor_emulator.api_key, base_url=twofactor_emulator.url, timeout=1.0
    )
    yield TwoFactorTransport(client, load_entrypoints=False, default_sender="TFACTR")
    client.close()
    twofactor_emulator.clear_faults()


def sms(text: str = "Your order shipped") -> SMSMessage:
    return SMSMessage(to=(PHONE,), text=text, sender="TFACTR")


MESSAGES = {
    "otp": OTPMessage(to=PHONE),
    "sms": sms(),
    "bulk": BulkBatch(
        messages=(
            BulkMessage(to=PHONE, text="one", sender="TFACTR"),
            BulkMessage(to="+919812345678", text="two", sender="TFACTR"),
        )
    ),
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_every_kind_is_sent_once_however_often_it_is_delivered(
    kind: str, transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    sender = BackgroundSender(transport, ledger, policy=FAST)
    envelope = sender.envelope(MESSAGES[kind])
    # the worker reads the envelope back from the queue's JSON
    first = sender.send(Envelope.from_json(envelope.to_json()))
    assert first.status is SendStatus.SENT
    assert first.record is not None and first.record.state is LedgerState.SENT
    received = len(twofactor_emulator.messages())
    assert received == len(MESSAGES[kind].recipients)
    assert {m.id for m in twofactor_emulator.messages()} >= set(first.record.provider_ids)
    for _ in range(3):  # redeliveries
        again = sender.send(Envelope.from_json(envelope.to_json()))
        assert again.status is SendStatus.DUPLICATE
        assert again.record is not None and again.record.state is LedgerState.SENT
    assert len(twofactor_emulator.messages()) == received


def test_a_bad_number_is_refused_when_queued(transport: TwoFactorTransport) -> None:
    sender = BackgroundSender(transport, ledger=_memory())
    with pytest.raises(InvalidPhoneNumberError) as info:
        sender.envelope(SMSMessage(to=("12",), text="hi", sender="TFACTR"))
    assert info.value.field


def test_a_message_refused_in_the_worker_is_failed_and_never_retried(
    transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    # queued by an older release, or changed by a plugin: the worker's checks refuse it
    envelope = Envelope.wrap(SMSMessage(to=("12",), text="hi", sender="TFACTR"))
    outcome = send_enveloped(transport, envelope, ledger, policy=FAST)
    assert outcome.status is SendStatus.FAILED
    assert outcome.record is not None and "InvalidPhoneNumberError" in outcome.record.error
    assert send_enveloped(transport, envelope, ledger).status is SendStatus.DUPLICATE
    assert twofactor_emulator.messages() == []


class _RaisingPlugin:
    """A plugin whose ``before_send`` raises ``error``: the message is never sent."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> None:
        raise self.error


def _when_a_plugin_raises(error: Exception, emulator: Emulator, ledger: SendLedger) -> SendOutcome:
    """An enveloped SMS sent to ``emulator`` by a transport whose one plugin raises ``error``
    before the send."""
    client = TwoFactorClient(emulator.api_key, base_url=emulator.url)
    transport = TwoFactorTransport(client, plugins=[_RaisingPlugin(error)], load_entrypoints=False)
    outcome = send_enveloped(transport, Envelope.wrap(sms()), ledger)
    client.close()
    return outcome


def test_a_plugin_refusal_is_failed_not_sent(
    twofactor_emulator: Emulator, ledger: SendLedger
) -> None:
    from twofactor_notify.errors import SendRefusedError

    outcome = _when_a_plugin_raises(SendRefusedError("blocked number"), twofactor_emulator, ledger)
    assert outcome.status is SendStatus.FAILED
    assert twofactor_emulator.messages() == []


def test_connection_refused_is_retried_then_sent(
    transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    closed = _closed_port_url()
    down = TwoFactorTransport(
        TwoFactorClient(twofactor_emulator.api_key, base_url=closed, connect_retries=0),
        load_entrypoints=False,
    )
    envelope = Envelope.wrap(sms())
    first = send_enveloped(down, envelope, ledger, policy=FAST)
    assert first.status is SendStatus.RETRY and 0 < first.retry_after <= FAST.max_delay
    assert first.record is not None and first.record.state is LedgerState.RETRY_WAIT
    second = send_enveloped(transport, envelope, ledger, policy=FAST)
    assert second.status is SendStatus.SENT
    assert second.record is not None and second.record.attempts == 2
    assert len(twofactor_emulator.messages()) == 1


def test_retries_stop_at_the_cap(twofactor_emulator: Emulator, ledger: SendLedger) -> None:
    down = TwoFactorTransport(
        TwoFactorClient(twofactor_emulator.api_key, base_url=_closed_port_url(), connect_retries=0),
        load_entrypoints=False,
    )
    envelope = Envelope.wrap(sms())
    statuses = [send_enveloped(down, envelope, ledger, policy=FAST).status for _ in range(4)]
    assert statuses == [SendStatus.RETRY, SendStatus.RETRY, SendStatus.FAILED, SendStatus.DUPLICATE]
    record = ledger.get(envelope.key)
    assert record is not None and record.state is LedgerState.FAILED and record.attempts == 3


def test_429_waits_at_least_its_retry_after(
    transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    twofactor_emulator.inject("status", status=429, retry_after=3, times=1)
    policy = RetryPolicy(base_delay=0.01, max_delay=60)
    outcome = send_enveloped(transport, Envelope.wrap(sms()), ledger, policy=policy)
    assert outcome.status is SendStatus.RETRY and outcome.retry_after >= 3


FAULTS: list[dict[str, Any]] = (
    [{"kind": kind} for kind in sorted(FAULT_KINDS - {"latency", "status", "html"})]
    + [{"kind": "status", "status": s} for s in (429, 500, 502, 503, 504)]
    + [{"kind": "html", "status": s} for s in (200, 403, 502)]
)


def _inject_once(emulator: Emulator, fault: dict[str, Any]) -> str:
    """Inject ``fault`` (one of :data:`FAULTS`) for the next request; its kind. A timeout
    lasts 2 s, longer than the client waits."""
    params = dict(fault)
    kind = str(params.pop("kind"))
    if kind == "timeout":
        params["seconds"] = 2.0
    emulator.inject(kind, times=1, **params)
    return kind


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f['kind']}-{f.get('status', '')}")
def test_no_fault_leads_to_a_second_copy_or_a_silent_loss(
    fault: dict[str, Any],
    transport: TwoFactorTransport,
    ledger: SendLedger,
    twofactor_emulator: Emulator,
) -> None:
    # Whatever goes wrong on the wire: a retry or a failure means 2Factor got nothing, and
    # redelivering the task afterwards never yields a second copy.
    kind = _inject_once(twofactor_emulator, fault)
    envelope = Envelope.wrap(sms())
    first = send_enveloped(transport, envelope, ledger, policy=FAST)
    received = len(twofactor_emulator.messages())
    if first.status in (SendStatus.RETRY, SendStatus.FAILED):
        assert received == 0
    elif first.status is SendStatus.UNKNOWN:
        assert received <= 1
        assert [r.key for r in ledger.unknown()] == [envelope.key]
    else:
        assert first.status is SendStatus.SENT and received == 1
    twofactor_emulator.clear_faults()
    for _ in range(2):
        send_enveloped(transport, envelope, ledger, policy=FAST)
    record = ledger.get(envelope.key)
    assert record is not None
    total = len(twofactor_emulator.messages())
    assert total <= 1
    assert record.state is not LedgerState.SENT or total == 1
    if record.state is LedgerState.FAILED:
        assert total == 0
    # expected classifications, from the reference's meaning of each answer
    if kind == "status" and fault["status"] in (429, 503):
        assert first.status is SendStatus.RETRY and record.state is LedgerState.SENT
    if kind == "status" and fault["status"] in (500, 502, 504):
        assert first.status is SendStatus.UNKNOWN and record.state is LedgerState.UNKNOWN
    if kind in ("timeout", "reset_after", "truncated"):
        assert first.status is SendStatus.UNKNOWN and record.state is LedgerState.UNKNOWN


def test_a_claim_held_by_a_live_worker_is_in_progress_then_unknown(
    transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    envelope = Envelope.wrap(sms())
    assert ledger.claim(envelope, token="worker-that-died", lease=0.3).granted
    busy = send_enveloped(transport, envelope, ledger)
    assert busy.status is SendStatus.IN_PROGRESS and 0 < busy.retry_after <= 0.3
    time.sleep(0.35)
    later = send_enveloped(transport, envelope, ledger)
    assert later.status is SendStatus.DUPLICATE
    assert later.record is not None and later.record.state is LedgerState.UNKNOWN
    assert twofactor_emulator.messages() == []


def test_a_non_library_exception_is_recorded_unknown_without_its_text(
    twofactor_emulator: Emulator, ledger: SendLedger
) -> None:
    error = RuntimeError("secret-token-123 leaked into a message")
    outcome = _when_a_plugin_raises(error, twofactor_emulator, ledger)
    assert outcome.status is SendStatus.UNKNOWN
    assert outcome.record is not None and "secret-token-123" not in outcome.record.error
    assert "RuntimeError" in outcome.record.error


def test_every_library_error_is_classified(ledger: SendLedger) -> None:
    # Each TwoFactorError subclass (discovered) maps to a kind; those flagged outcome_unknown
    # are never retried.
    from twofactor_notify.background import FailureKind, classify_failure

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    for cls in subclasses(TwoFactorError) | {TwoFactorError}:
        try:
            error = cls("x")
        except TypeError:
            continue
        kind = classify_failure(error)
        if error.outcome_unknown:
            assert kind is FailureKind.UNKNOWN, cls
        error.outcome_unknown = True
        assert classify_failure(error) is FailureKind.UNKNOWN, cls


def _memory() -> SendLedger:
    from twofactor_notify.background import InMemoryLedger

    return InMemoryLedger()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_no_throttle_is_the_default(transport: TwoFactorTransport) -> None:
    assert isinstance(BackgroundSender(transport, _memory()).throttle, NoThrottle)


def test_backoff_doubles_with_jitter_honours_retry_after_and_is_capped() -> None:
    from twofactor_notify.errors import ConfigurationError, RateLimitedError

    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.5)
    for attempts, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0)}.items():
        for _ in range(50):
            assert low <= policy.delay(attempts) <= high
    assert policy.delay(20) <= 10.0
    assert policy.delay(1, RateLimitedError("429", retry_after=7)) == 7
    assert policy.delay(1, RateLimitedError("429", retry_after=70)) == 10.0
    defaults = RetryPolicy()
    assert (defaults.max_attempts, defaults.base_delay, defaults.max_delay) == (5, 1.0, 300.0)
    for bad in ({"max_attempts": 0}, {"base_delay": -1}, {"jitter": 2}):
        with pytest.raises(ConfigurationError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_a_throttle_past_its_max_wait_claims_nothing_and_asks_for_a_retry(
    transport: TwoFactorTransport, ledger: SendLedger, twofactor_emulator: Emulator
) -> None:
    from twofactor_notify.errors import RateLimitedError

    class Full:
        def wait(self) -> float:
            raise RateLimitedError("no slot", retry_after=2.0)

    envelope = Envelope.wrap(sms())
    outcome = send_enveloped(transport, envelope, ledger, Full(), policy=RetryPolicy())
    assert outcome.status is SendStatus.RETRY and outcome.retry_after >= 2.0
    assert ledger.get(envelope.key) is None
    assert twofactor_emulator.messages() == []
    assert send_enveloped(transport, envelope, ledger).status is SendStatus.SENT


#: Redis round trips one send may cost a worker, whatever its outcome: the first look at the
#: key, the throttle's reservation, the claim, the outcome.
ROUND_TRIPS_PER_SEND = 4


@pytest.mark.parametrize(
    "fault",
    [None, *FAULTS],
    ids=lambda f: "none" if f is None else f"{f['kind']}-{f.get('status', '')}",
)
def test_a_send_costs_four_redis_round_trips_whatever_its_outcome(
    fault: dict[str, Any] | None,
    transport: TwoFactorTransport,
    redis_client: Any,
    redis_prefix: str,
    twofactor_emulator: Emulator,
) -> None:
    # Each round trip is CPU in a worker whose threads share one interpreter lock, and every
    # worker of the account waits on the same Redis: the budget holds for every outcome.
    import redis

    from twofactor_notify.background import RedisThrottle
    from twofactor_notify.background.redis_ledger import RedisLedger

    commands: list[str] = []

    class CountingRedis(redis.Redis):  # type: ignore[misc,type-arg]
        def execute_command(self, *args: Any, **options: Any) -> Any:
            commands.append(str(args[0]))
            return super().execute_command(*args, **options)

    client = CountingRedis(connection_pool=redis_client.connection_pool)
    ledger = RedisLedger(client, prefix=redis_prefix)
    throttle = RedisThrottle(client, rate=1000, key=redis_prefix + "throttle")
    send_enveloped(transport, Envelope.wrap(sms()), ledger, throttle, policy=FAST)  # loads scripts
    if fault is not None:
        _inject_once(twofactor_emulator, fault)
    envelope = Envelope.wrap(sms())
    commands.clear()
    outcome = send_enveloped(transport, envelope, ledger, throttle, policy=FAST)
    assert len(commands) <= ROUND_TRIPS_PER_SEND, (outcome.status, commands)
    # the record handed back is the one the ledger holds
    assert outcome.record == ledger.get(envelope.key)
    commands.clear()
    again = send_enveloped(transport, envelope, ledger, throttle, policy=FAST)
    assert len(commands) <= ROUND_TRIPS_PER_SEND, (again.status, commands)
