"""The extension's background=True with Celery set up as Flask's docs show, sent by a real
worker through a real Redis broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.background.conftest import REDIS_URL
from tests.background.conftest import redis_client as redis_client
from tests.background.conftest import redis_prefix as redis_prefix
from tests.background.workers import Workers, wait_until, worker_env
from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError, InvalidPhoneNumberError

from .conftest import AppFactory

pytest.importorskip("celery")
PHONE = "+919876543210"


@pytest.fixture
def env(redis_prefix: str, twofactor_emulator: Emulator) -> dict[str, str]:
    return worker_env(REDIS_URL, redis_prefix, twofactor_emulator.url, twofactor_emulator.api_key)


def test_background_sends_go_through_a_worker_in_the_app_context(
    env: dict[str, str], redis_client: Any, twofactor_emulator: Emulator, tmp_path: Path
) -> None:
    from .celery_app import config_from, create_app, twofactor

    app = create_app(config_from(env))
    with app.app_context():
        envelope = twofactor.send_sms(PHONE, "queued from flask", background=True, key="f-1")
        batches = twofactor.send_bulk(
            [{"to": PHONE, "text": "bulk a"}, {"to": "+919812345678", "text": "bulk b"}],
            background=True,
            key="f-bulk",
        )
        with pytest.raises(InvalidPhoneNumberError):
            twofactor.send_sms("12", "never queued", background=True)
    assert isinstance(envelope, Envelope) and envelope.key == "f-1"
    assert [b.key for b in batches] == ["f-bulk:0"]
    queue = env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]
    assert redis_client.llen(queue) == 2  # the refused message was never queued
    pending = env["TFN_LEDGER_PREFIX"] + "ledger:pending"
    # noted in the ledger before the broker got them, until a worker claims them
    assert sorted(redis_client.zrange(pending, 0, -1)) == [b"f-1", b"f-bulk:0"]
    workers = Workers(env, tmp_path, app="tests.flask.celery_app")
    try:
        workers.start(concurrency=2)
        ledger = RedisLedger(redis_client, prefix=env["TFN_LEDGER_PREFIX"] + "ledger:")
        wait_until(
            lambda: all(
                (r := ledger.get(k)) is not None and r.state.final for k in ("f-1", "f-bulk:0")
            ),
            60,
            "the worker to send both",
        )
    finally:
        workers.stop()
    record = ledger.get("f-1")
    assert record is not None and record.state is LedgerState.SENT
    texts = sorted(m.text for m in twofactor_emulator.messages())
    assert texts == ["bulk a", "bulk b", "queued from flask"]
    assert redis_client.zcard(pending) == 0
    assert redis_client.hlen(env["TFN_LEDGER_PREFIX"] + "ledger:envelopes") == 0


def test_a_message_the_broker_lost_is_queued_again_by_the_republish_task(
    env: dict[str, str], redis_client: Any, twofactor_emulator: Emulator, tmp_path: Path
) -> None:
    import celery_twofactor

    from .celery_app import config_from, create_app, twofactor

    app = create_app(config_from(env))
    queue = env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]
    with app.app_context():
        twofactor.send_sms(PHONE, "lost by the broker", background=True, key="f-lost")
        assert redis_client.delete(queue) == 1  # Kombu lost it before any worker noted it
        assert celery_twofactor.republish(grace=3600) == {
            "requeued": [],
            "lost": [],
            "refused": 0,
        }
        report = celery_twofactor.republish(grace=0)
    assert report == {"requeued": ["f-lost"], "lost": [], "refused": 0}
    assert redis_client.llen(queue) == 1
    workers = Workers(env, tmp_path, app="tests.flask.celery_app")
    ledger = RedisLedger(redis_client, prefix=env["TFN_LEDGER_PREFIX"] + "ledger:")
    try:
        workers.start(concurrency=2)
        wait_until(
            lambda: (r := ledger.get("f-lost")) is not None and r.state.final,
            60,
            "the worker to send it",
        )
    finally:
        workers.stop()
    record = ledger.get("f-lost")
    assert record is not None and record.state is LedgerState.SENT
    assert [m.text for m in twofactor_emulator.messages()] == ["lost by the broker"]
    with app.app_context():
        assert celery_twofactor.republish(grace=0)["requeued"] == []


def test_background_without_the_setting_is_a_configuration_error(make_app: AppFactory) -> None:
    app = make_app(TWOFACTOR_BACKEND="memory")
    twofactor = app.extensions["twofactor"]
    from flask_twofactor import TwoFactor

    with app.app_context():
        with pytest.raises(ConfigurationError) as info:
            TwoFactor().send_sms(PHONE, "hi", background=True)
        assert "TWOFACTOR_BACKGROUND" in str(info.value)
        assert twofactor is not None


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"ENGINE": "celery"}, "REDIS_URL"),
        ({"ENGINE": "dramatiq", "REDIS_URL": "redis://x"}, "ENGINE"),
        ({"ENGINE": "celery", "REDIS_URL": "redis://x", "RATE": 5}, "RATE"),
        ("celery", "TWOFACTOR_BACKGROUND"),
    ],
)
def test_a_bad_background_setting_fails_init_app_naming_the_key(
    make_app: AppFactory, value: Any, key: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_app(TWOFACTOR_BACKEND="memory", TWOFACTOR_BACKGROUND=value)
    assert key in str(info.value)


def test_init_app_refuses_a_lease_not_above_the_timeout_naming_it(
    make_app: AppFactory,
) -> None:
    """The web side refuses what the worker would: a claim must outlive its request."""
    for lease in (2, 5):  # below, and equal to, TWOFACTOR_TIMEOUT
        with pytest.raises(ConfigurationError) as info:
            make_app(
                TWOFACTOR_BACKEND="2factor",
                TWOFACTOR_API_KEY="k" * 36,
                TWOFACTOR_TIMEOUT=5,
                TWOFACTOR_SUPPRESS=False,
                TWOFACTOR_BACKGROUND={
                    "ENGINE": "celery",
                    "REDIS_URL": "redis://127.0.0.1:6379/0",
                    "LEASE_SECONDS": lease,
                },
            )
        assert info.value.key == "TWOFACTOR_BACKGROUND['LEASE_SECONDS']"
        assert info.value.key in str(info.value)
    make_app(  # above it: accepted
        TWOFACTOR_BACKEND="2factor",
        TWOFACTOR_API_KEY="k" * 36,
        TWOFACTOR_TIMEOUT=(2, 3),
        TWOFACTOR_SUPPRESS=False,
        TWOFACTOR_BACKGROUND={
            "ENGINE": "celery",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEASE_SECONDS": 5.5,
        },
    )


def test_a_broker_that_does_not_take_the_message_raises_a_typed_error_at_once(
    env: dict[str, str], redis_client: Any
) -> None:
    import socket

    from twofactor_notify.errors import QueueUnavailableError

    from .celery_app import config_from, create_app, twofactor

    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = config_from(env)
    config["CELERY"]["broker_url"] = f"redis://:broker-pw-5d1e@127.0.0.1:{port}/6"
    app = create_app(config)
    with app.app_context():
        with pytest.raises(QueueUnavailableError) as info:
            twofactor.send_sms(PHONE, "broker down", background=True, key="f-down")
        with pytest.raises(QueueUnavailableError):
            twofactor.send_bulk([{"to": PHONE, "text": "bulk"}], background=True, key="f-bd")
    error = info.value
    assert error.reason == "OperationalError" and "f-down" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    assert "broker-pw-5d1e" not in str(error) + repr(error)
    assert redis_client.llen(env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]) == 0
    # not queued, so not noted: the re-publisher will not send what the caller was told failed
    assert redis_client.zcard(env["TFN_LEDGER_PREFIX"] + "ledger:pending") == 0
    assert redis_client.hlen(env["TFN_LEDGER_PREFIX"] + "ledger:envelopes") == 0


def test_a_different_message_under_a_used_key_is_refused_when_queued(
    env: dict[str, str], redis_client: Any
) -> None:
    """The Redis ledger marks a caller's key with its message: the same message again is
    queued (the worker sends the key once), another one is refused instead of never sent."""
    from twofactor_notify.errors import InvalidInputError

    from .celery_app import config_from, create_app, twofactor

    app = create_app(config_from(env))
    queue = env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]
    marks = env["TFN_LEDGER_PREFIX"] + "ledger:m:*"
    with app.app_context():
        twofactor.send_sms(PHONE, "your order shipped", background=True, key="f-same")
        twofactor.send_sms(PHONE, "your order shipped", background=True, key="f-same")
        for to, text in ((PHONE, "another text"), ("+919812345678", "your order shipped")):
            with pytest.raises(InvalidInputError) as info:
                twofactor.send_sms(to, text, background=True, key="f-same")
            assert info.value.field == "key" and "f-same" in str(info.value)
        assert redis_client.llen(queue) == 2
        assert len(list(redis_client.scan_iter(match=marks))) == 1
        twofactor.send_sms(PHONE, "no key given", background=True)  # a generated key names
        assert len(list(redis_client.scan_iter(match=marks))) == 1  # one message: no mark


def test_a_key_whose_message_the_broker_did_not_take_is_free_again(
    env: dict[str, str], redis_client: Any
) -> None:
    import socket

    from twofactor_notify.errors import QueueUnavailableError

    from .celery_app import config_from, create_app, twofactor

    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = config_from(env)
    down["CELERY"]["broker_url"] = f"redis://127.0.0.1:{port}/6"
    with create_app(down).app_context(), pytest.raises(QueueUnavailableError):
        twofactor.send_sms(PHONE, "first text", background=True, key="f-free")
    with create_app(config_from(env)).app_context():  # the corrected message, same key
        twofactor.send_sms(PHONE, "second text", background=True, key="f-free")
    assert redis_client.llen(env["TFN_KEYPREFIX"] + env["TFN_QUEUE"]) == 1
