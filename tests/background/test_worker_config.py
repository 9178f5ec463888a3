"""A Celery worker whose background setting is malformed: it refuses to start, and a task
that cannot build its sender gives its message back instead of consuming it.

Real worker processes, a real Redis broker and ledger, the emulator over HTTP. The bad
settings are every option of the background setting with a value it refuses, plus an
unknown key; a new option fails :func:`test_every_option_has_a_bad_value` until it has one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twofactor_notify.background import Envelope, LedgerState
from twofactor_notify.background.config import OPTION_NAMES
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import SMSMessage

from .conftest import REDIS_URL
from .workers import VISIBILITY_TIMEOUT, Workers, wait_until, worker_env

pytest.importorskip("celery")

PHONE = "+919876543210"

#: One refused value per option (the worker's transport timeout is 2.5 s, so a lease of 2 s
#: is refused when the sender is built); ``TYPO`` stands for any unknown key.
BAD_VALUES: dict[str, Any] = {
    "ENGINE": "rq",
    "LEDGER": "sqlite",
    "QUEUE": "",
    "REDIS_URL": "http://127.0.0.1:6379/0",
    "ACCOUNT_RATE_LIMIT": 0,
    "MAX_ATTEMPTS": 0,
    "MAX_RETRY_DELAY": -1,
    "LEASE_SECONDS": 2,
    "KEY_PREFIX": "",
    "TYPO": 1,
}


def good_setting(prefix: str) -> dict[str, Any]:
    return {
        "ENGINE": "celery",
        "REDIS_URL": REDIS_URL,
        "KEY_PREFIX": prefix,
        "LEASE_SECONDS": 3,
        "ACCOUNT_RATE_LIMIT": None,
    }


def bad_setting(prefix: str, option: str) -> dict[str, Any]:
    return {**good_setting(prefix), option: BAD_VALUES[option]}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(latency_ms=0, delivery_delay=3600) as emu:
        yield emu


@pytest.fixture
def env(redis_client: Any, redis_prefix: str, emulator: Emulator) -> dict[str, str]:
    return worker_env(REDIS_URL, redis_prefix, emulator.url, emulator.api_key)


def workers_with(
    env: dict[str, str], tmp_path: Path, setting: dict[str, Any], **extra: str
) -> Workers:
    return Workers({**env, "TFN_BACKGROUND": json.dumps(setting), **extra}, tmp_path)


def broker_copies(redis_client: Any, env: dict[str, str], key: str) -> int:
    """How many copies of the task of ``key`` the broker holds (queued or unacknowledged)."""
    queued = redis_client.lrange(env["TFN_KEYPREFIX"] + env["TFN_QUEUE"], 0, -1)
    unacked = [
        json.dumps(json.loads(raw)[0])
        for raw in redis_client.hvals(env["TFN_KEYPREFIX"] + "unacked")
    ]
    copies = 0
    for raw in [*queued, *unacked]:
        headers = json.loads(raw)["headers"]
        # the given-back copy, like the first, shows only the key in the worker's logs
        assert headers["argsrepr"] == repr((key,)) and headers["kwargsrepr"] == "{}"
        copies += 1
    return copies


def test_every_option_has_a_bad_value() -> None:
    assert set(BAD_VALUES) - {"TYPO"} == set(OPTION_NAMES)


@pytest.mark.parametrize("option", sorted(BAD_VALUES))
def test_a_worker_with_a_bad_setting_refuses_to_start_naming_it(
    env: dict[str, str], tmp_path: Path, redis_prefix: str, option: str
) -> None:
    workers = workers_with(env, tmp_path, bad_setting(redis_prefix, option))
    proc = workers.start(concurrency=1)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        workers.stop()
        raise AssertionError("the worker started with a bad setting") from None
    log = (tmp_path / "worker-0.log").read_text(errors="replace")
    assert code != 0
    lines = [line for line in log.splitlines() if "this worker cannot send" in line]
    assert lines, log
    assert all(option in line for line in lines), log
    assert "Traceback" not in log


def test_a_worker_with_a_good_setting_starts_and_sends(
    env: dict[str, str], tmp_path: Path, redis_prefix: str, redis_client: Any, emulator: Emulator
) -> None:
    from celery_twofactor import enqueue

    from .celery_worker import make_app

    workers = workers_with(env, tmp_path, good_setting(redis_prefix))
    try:
        workers.start(concurrency=2)
        app = make_app(env["TFN_BROKER_URL"], env["TFN_KEYPREFIX"], env["TFN_QUEUE"], 4)
        message = SMSMessage(to=(PHONE,), text="good worker", sender="TFACTR")
        enqueue(Envelope.wrap(message, key="good-1"), app=app)
        ledger = RedisLedger(redis_client, prefix=env["TFN_LEDGER_PREFIX"])
        wait_until(lambda: (r := ledger.get("good-1")) is not None and r.state.final, 60, "send")
        assert [m.text for m in emulator.messages()] == ["good worker"]
    finally:
        workers.stop()


@pytest.mark.parametrize("option", ["LEASE_SECONDS", "TYPO"])
def test_a_task_that_cannot_build_its_sender_gives_the_message_back(
    env: dict[str, str],
    tmp_path: Path,
    redis_prefix: str,
    redis_client: Any,
    emulator: Emulator,
    option: str,
) -> None:
    from celery_twofactor import enqueue

    from .celery_worker import make_app

    app = make_app(env["TFN_BROKER_URL"], env["TFN_KEYPREFIX"], env["TFN_QUEUE"], 4)
    ledger = RedisLedger(redis_client, prefix=env["TFN_LEDGER_PREFIX"])
    message = SMSMessage(to=(PHONE,), text="kept for a good worker", sender="TFACTR")
    enqueue(Envelope.wrap(message, key="kept-1"), app=app)

    bad = workers_with(
        env, tmp_path / "bad", bad_setting(redis_prefix, option), TFN_NO_START_CHECK="1"
    )
    (tmp_path / "bad").mkdir()
    log = tmp_path / "bad" / "worker-0.log"
    proc = bad.start(concurrency=2)
    try:
        wait_until(lambda: "given back" in log.read_text(errors="replace"), 60, "a refusal")
        time.sleep(2)  # time to ack whatever it acks
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    assert option in text.split("given back", 1)[1].splitlines()[0], text
    assert emulator.messages() == []
    assert ledger.get("kept-1") is None
    assert broker_copies(redis_client, env, "kept-1") == 1

    good = workers_with(env, tmp_path, good_setting(redis_prefix))
    try:
        good.start(concurrency=2)
        wait_until(
            lambda: (r := ledger.get("kept-1")) is not None and r.state.final,
            60 + VISIBILITY_TIMEOUT,
            "the good worker's send",
        )
        record = ledger.get("kept-1")
        assert record is not None and record.state is LedgerState.SENT
        assert [m.text for m in emulator.messages()] == ["kept for a good worker"]
    finally:
        good.stop()
