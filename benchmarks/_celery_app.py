"""The Celery app of the background benchmark's worker processes.

``python -m celery -A benchmarks._celery_app worker`` with ``TFN_BROKER_URL``,
``TFN_KEYPREFIX``, ``TFN_QUEUE``, ``TFN_EMULATOR_URL``, ``TFN_API_KEY``, ``TFN_LEDGER_PREFIX``,
``TFN_RATE`` (account rate per second, 0 for none) and ``TFN_BURST`` (the throttle's burst) in
the environment.
"""

from __future__ import annotations

import os
import sys
import threading

from celery import Celery, signals

import celery_twofactor as tasks
from twofactor_notify.background import BackgroundSender, RedisThrottle
from twofactor_notify.background.redis_ledger import RedisLedger
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.transport import TwoFactorTransport


def make_app(broker: str, keyprefix: str, queue: str) -> Celery:
    """A Celery app on ``broker`` whose Redis keys all start with ``keyprefix``."""
    app = Celery("tfn_bench", broker=broker)
    app.conf.update(
        broker_transport_options={"global_keyprefix": keyprefix},
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        worker_prefetch_multiplier=1,  # as docs/background.md advises with acks_late
        task_ignore_result=True,
    )
    return app


_lock = threading.Lock()
_built: list[BackgroundSender] = []


def _sender() -> BackgroundSender:
    with _lock:
        if not _built:
            import redis

            client = redis.Redis.from_url(os.environ["TFN_BROKER_URL"])
            rate = float(os.environ.get("TFN_RATE", "0"))
            prefix = os.environ["TFN_LEDGER_PREFIX"]
            transport = TwoFactorTransport(
                TwoFactorClient(
                    os.environ["TFN_API_KEY"], base_url=os.environ["TFN_EMULATOR_URL"], pool_size=64
                ),
                load_entrypoints=False,
            )
            burst = int(os.environ.get("TFN_BURST", "1"))
            throttle = (
                RedisThrottle(client, rate=rate, burst=burst, key=prefix + "throttle")
                if rate
                else None
            )
            _built.append(BackgroundSender(transport, RedisLedger(client, prefix=prefix), throttle))
        return _built[0]


@signals.worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
def _say_ready(**kwargs: object) -> None:
    # The workers run at --loglevel WARNING (as docs/background.md advises for sending
    # workers), so Celery's own "ready." line (INFO) is not written; the benchmark waits
    # for this one.
    print("bench worker ready.", file=sys.stderr, flush=True)


if "TFN_QUEUE" in os.environ:
    app = make_app(
        os.environ["TFN_BROKER_URL"], os.environ["TFN_KEYPREFIX"], os.environ["TFN_QUEUE"]
    )
    tasks.set_sender_provider(_sender)
