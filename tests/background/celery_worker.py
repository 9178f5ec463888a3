"""The Celery app of the worker processes the tests start (and of the benchmark).

``python -m celery -A tests.background.celery_worker worker ...`` with these variables:
``TFN_BROKER_URL``, ``TFN_KEYPREFIX`` (isolates the broker's keys), ``TFN_QUEUE``,
``TFN_VISIBILITY`` (seconds), ``TFN_EMULATOR_URL``, ``TFN_API_KEY``, ``TFN_LEDGER_PREFIX``,
``TFN_RATE`` (account rate, 0 for none), ``TFN_LEASE`` (seconds).

With ``TFN_BACKGROUND`` (a JSON object) the sender is built from that background setting by
the core's own builder instead; ``TFN_NO_START_CHECK=1`` skips the check at worker start, so
that a sender that cannot be built fails in the task.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from celery import Celery

import celery_twofactor as tasks
from twofactor_notify.background import BackgroundSender, RedisThrottle, RetryPolicy
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.transport import TwoFactorTransport


def make_app(broker: str, keyprefix: str, queue: str, visibility: float) -> Celery:
    """A Celery app on ``broker`` whose Redis keys all start with ``keyprefix``."""
    app = Celery("tfn_test", broker=broker)
    app.conf.update(
        broker_transport_options={
            "visibility_timeout": visibility,
            "global_keyprefix": keyprefix,
            # look for abandoned messages every second (kombu's default: about every 100 s)
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            # a worker killed while it looks leaves the lock behind: 5 s, not 300 s
            "unacked_mutex_expire": 5,
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )
    return app


def _transport() -> TwoFactorTransport:
    return TwoFactorTransport(
        TwoFactorClient(
            os.environ["TFN_API_KEY"],
            base_url=os.environ["TFN_EMULATOR_URL"],
            timeout=2.5,  # below the lease (3 s): a slow send is not called dead
            pool_size=64,
        ),
        load_entrypoints=False,
    )


def _configured_provider(raw: str) -> Any:
    """Build the sender from a background setting, every call (as a fresh worker would)."""
    import json

    from twofactor_notify.background.config import BackgroundOptions, build_sender

    def provider() -> BackgroundSender:
        options = BackgroundOptions.from_mapping(json.loads(raw), where="TFN_BACKGROUND")
        return build_sender(_transport(), options)

    return provider


def _sender_provider() -> Any:
    lock = threading.Lock()
    built: list[BackgroundSender] = []

    def provider() -> BackgroundSender:
        with lock:
            if not built:
                import redis

                client = redis.Redis.from_url(os.environ["TFN_BROKER_URL"])
                rate = float(os.environ.get("TFN_RATE", "0"))
                transport = TwoFactorTransport(
                    TwoFactorClient(
                        os.environ["TFN_API_KEY"],
                        base_url=os.environ["TFN_EMULATOR_URL"],
                        timeout=2.5,  # below the lease (3 s): a slow send is not called dead
                        pool_size=64,
                    ),
                    load_entrypoints=False,
                )
                built.append(
                    BackgroundSender(
                        transport,
                        RedisLedger(client, prefix=os.environ["TFN_LEDGER_PREFIX"]),
                        RedisThrottle(client, rate=rate, key=os.environ["TFN_LEDGER_PREFIX"] + "t")
                        if rate
                        else None,
                        policy=RetryPolicy(max_attempts=5, base_delay=0.2, max_delay=2.0),
                        lease=float(os.environ.get("TFN_LEASE", "3")),
                    )
                )
            return built[0]

    return provider


if "TFN_BROKER_URL" in os.environ and "TFN_QUEUE" in os.environ:
    app = make_app(
        os.environ["TFN_BROKER_URL"],
        os.environ["TFN_KEYPREFIX"],
        os.environ["TFN_QUEUE"],
        float(os.environ.get("TFN_VISIBILITY", "5")),
    )
    if "TFN_BACKGROUND" in os.environ:
        tasks.set_sender_provider(
            _configured_provider(os.environ["TFN_BACKGROUND"]),
            check=(lambda: None) if os.environ.get("TFN_NO_START_CHECK") else None,
        )
    else:
        tasks.set_sender_provider(_sender_provider())
