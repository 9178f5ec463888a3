"""The Django helpers' background sending: checked at once, queued only after commit, sent
by a real Celery worker through a real Redis broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

import django_twofactor
from django_twofactor import api
from django_twofactor.background import get_background_sender, get_options
from tests.background.conftest import REDIS_URL
from tests.background.conftest import redis_client as redis_client
from tests.background.conftest import redis_prefix as redis_prefix
from tests.background.workers import VISIBILITY_TIMEOUT, Workers, wait_until, worker_env
from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError, InvalidPhoneNumberError

from .conftest import base_settings

pytest.importorskip("celery")
PHONE = "+919876543210"


@pytest.fixture
def queued(
    settings: Any, redis_prefix: str, twofactor_emulator: Emulator, tmp_path: Path
) -> Iterator[Workers]:
    """BACKGROUND pointed at a test queue, a producer app made current, and its workers."""
    from tests.background.celery_worker import make_app

    env = worker_env(REDIS_URL, redis_prefix, twofactor_emulator.url, twofactor_emulator.api_key)
    settings.TWOFACTOR_NOTIFY = base_settings(
        BACKGROUND={"ENGINE": "celery", "REDIS_URL": REDIS_URL, "QUEUE": env["TFN_QUEUE"]}
    )
    app = make_app(REDIS_URL, env["TFN_KEYPREFIX"], env["TFN_QUEUE"], VISIBILITY_TIMEOUT)
    app.set_current()
    group = Workers(env, tmp_path)
    yield group
    group.stop()


def queue_length(client: Any, workers: Workers) -> int:
    return int(client.llen(workers.env["TFN_KEYPREFIX"] + workers.env["TFN_QUEUE"]))


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_never_sends_and_a_committed_one_sends_once(
    queued: Workers, redis_client: Any, twofactor_emulator: Emulator
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        api.send_sms(PHONE, "rolled back", background=True, key="rolled-back")
        raise RuntimeError("the view failed")
    with transaction.atomic():
        envelope = api.send_sms(PHONE, "committed", background=True, key="committed")
        assert isinstance(envelope, Envelope)
        assert queue_length(redis_client, queued) == 0  # nothing before the commit
    assert queue_length(redis_client, queued) == 1
    batches = api.send_mass_sms(
        [(PHONE, "bulk one"), ("+919812345678", "bulk two")], background=True, key="bulk"
    )
    assert [b.key for b in batches] == ["bulk:0"]
    queued.start(concurrency=2)
    ledger = RedisLedger(redis_client, prefix=queued.env["TFN_LEDGER_PREFIX"])

    def done() -> bool:
        return all(
            (r := ledger.get(k)) is not None and r.state.final for k in ("committed", "bulk:0")
        )

    wait_until(done, 60, "the committed messages to be sent")
    texts = [m.text for m in twofactor_emulator.messages()]
    assert sorted(texts) == ["bulk one", "bulk two", "committed"]
    assert ledger.get("rolled-back") is None
    record = ledger.get("committed")
    assert record is not None and record.state is LedgerState.SENT
    assert queue_length(redis_client, queued) == 0


@pytest.mark.django_db(transaction=True)
def test_a_bad_number_is_refused_before_anything_is_queued(
    queued: Workers, redis_client: Any
) -> None:
    with pytest.raises(InvalidPhoneNumberError):
        api.send_sms("12", "hello", background=True)
    assert api.send_sms("12", "hello", background=True, fail_silently=True) is None
    with pytest.raises(InvalidPhoneNumberError) as info:
        api.send_mass_sms([(PHONE, "fine"), ("12", "bad")], background=True)
    assert "message 1" in str(info.value)
    assert queue_length(redis_client, queued) == 0


def test_background_without_the_setting_is_a_configuration_error(settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings()
    for call in (
        lambda: api.send_sms(PHONE, "hi", background=True),
        lambda: api.send_sms(PHONE, "hi", background=True, fail_silently=True),
        lambda: api.send_mass_sms([(PHONE, "hi")], background=True),
    ):
        with pytest.raises(ConfigurationError) as info:
            call()
        assert "BACKGROUND" in str(info.value)


@pytest.mark.parametrize(
    ("background", "key"),
    [
        ({"ENGINE": "rq", "REDIS_URL": "redis://x"}, "ENGINE"),
        ({"ENGINE": "celery"}, "REDIS_URL"),
        ({"ENGINE": "celery", "REDIS_URL": "http://x"}, "REDIS_URL"),
        (
            {"ENGINE": "celery", "REDIS_URL": "redis://x", "ACCOUNT_RATE_LIMIT": 0},
            "ACCOUNT_RATE_LIMIT",
        ),
        ({"ENGINE": "celery", "REDIS_URL": "redis://x", "MAX_ATTEMPTS": "3"}, "MAX_ATTEMPTS"),
        ({"ENGINE": "celery", "REDIS_URL": "redis://x", "LEASE": 5}, "LEASE"),
        ({"ENGINE": "celery", "REDIS_URL": "redis://x", "QUEUE": ""}, "QUEUE"),
    ],
)
def test_a_bad_background_setting_names_its_key(settings: Any, background: Any, key: str) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(BACKGROUND=background)
    with pytest.raises(ConfigurationError) as info:
        get_options()
    assert key in str(info.value)
    from django.core.checks import run_checks

    errors = [e for e in run_checks() if e.id == "django_twofactor.E020"]
    assert len(errors) == 1 and key in errors[0].msg


def test_the_worker_sender_uses_the_apps_transport_and_the_settings(settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(
        BACKGROUND={
            "ENGINE": "celery",
            "REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0",
            "ACCOUNT_RATE_LIMIT": 50,
            "MAX_ATTEMPTS": 2,
        }
    )
    sender = get_background_sender()
    assert sender.transport is api.get_transport()
    assert sender.policy.max_attempts == 2
    assert getattr(sender.throttle, "rate", None) == 50
    assert "s3cret" not in repr(get_options())
    assert get_background_sender() is sender


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_is_queued_at_once_one_envelope_per_request(
    queued: Workers, redis_client: Any
) -> None:
    api.send_sms(PHONE, "no transaction", background=True)
    assert queue_length(redis_client, queued) == 1
    batches = api.send_mass_sms(
        [(PHONE, "a"), (PHONE, "b"), {"to": PHONE, "text": "c"}],
        background=True,
        key="split",
        chunk_size=2,
    )
    assert [b.key for b in batches] == ["split:0", "split:1"]
    assert [len(b.message.messages) for b in batches] == [2, 1]
    assert queue_length(redis_client, queued) == 3


def test_a_good_background_setting_passes_the_checks(settings: Any) -> None:
    from django.core.checks import run_checks

    settings.TWOFACTOR_NOTIFY = base_settings(
        BACKGROUND={"ENGINE": "celery", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    )
    assert [e for e in run_checks() if e.id == "django_twofactor.E020"] == []


def test_the_workers_sender_names_a_short_lease_as_the_setting_is_written(
    settings: Any, twofactor_emulator: Emulator
) -> None:
    from .conftest import emulator_settings

    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator,
        BACKGROUND={
            "ENGINE": "celery",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEASE_SECONDS": 2,
        },
    )
    with pytest.raises(ConfigurationError) as info:
        get_background_sender()  # the transport's TIMEOUT is 5 s
    assert info.value.key == "TWOFACTOR_NOTIFY['BACKGROUND']['LEASE_SECONDS']"
    assert info.value.key in str(info.value)


@pytest.mark.parametrize("lease", [2, 5])
def test_the_system_check_refuses_a_lease_not_above_the_timeout(
    settings: Any, twofactor_emulator: Emulator, lease: float
) -> None:
    from django_twofactor.background import check_background

    from .conftest import emulator_settings

    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator,
        BACKGROUND={
            "ENGINE": "celery",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEASE_SECONDS": lease,
        },
    )
    errors = check_background()  # the transport's TIMEOUT is 5 s
    assert [e.id for e in errors] == ["django_twofactor.E020"]
    assert "TWOFACTOR_NOTIFY['BACKGROUND']['LEASE_SECONDS']" in errors[0].msg
    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator,
        BACKGROUND={"ENGINE": "celery", "REDIS_URL": "redis://127.0.0.1:6379/0"},
    )
    assert check_background() == []


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ["celery", "django-tasks"])
@pytest.mark.parametrize(
    "send",
    [
        lambda: django_twofactor.send_sms("9876543210", "x", background=True, key="lease-1"),
        lambda: django_twofactor.send_mass_sms(
            [("9876543210", "x")], background=True, key="lease-2"
        ),
    ],
    ids=["send_sms", "send_mass_sms"],
)
def test_a_background_send_refuses_a_lease_not_above_the_timeout(
    settings: Any, twofactor_emulator: Emulator, engine: str, send: Any
) -> None:
    """What E020 reports, a send refuses: nothing queued, ledgered or kept in the outbox."""
    from django_twofactor.models import OutboxMessage, QueuedMessage

    from .conftest import emulator_settings

    settings.TWOFACTOR_NOTIFY = emulator_settings(
        twofactor_emulator,
        BACKGROUND={
            "ENGINE": engine,
            "LEDGER": "database",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEASE_SECONDS": 2,
        },
    )
    with pytest.raises(ConfigurationError) as info:
        send()  # the transport's TIMEOUT is 5 s
    assert info.value.key == "TWOFACTOR_NOTIFY['BACKGROUND']['LEASE_SECONDS']"
    assert not QueuedMessage.objects.exists() and not OutboxMessage.objects.exists()
