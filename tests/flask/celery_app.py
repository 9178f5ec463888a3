"""A Flask app with Celery, written as Flask's documentation shows it ("Background Tasks with
Celery"): an app factory, ``celery_init_app`` with a task class that runs each task in an app
context, and a module the worker is started from (``celery -A tests.flask.celery_app``).

The tests start the worker with ``TFN_*`` variables (see ``tests/background/workers.py``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from flask import Flask

from flask_twofactor import TwoFactor

twofactor = TwoFactor()


def celery_init_app(app: Flask) -> Celery:
    """Flask's documented pattern: one Celery app, tasks run inside ``app.app_context()``."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def create_app(config: dict[str, Any]) -> Flask:
    """The app factory."""
    app = Flask("tfn_flask_celery")
    app.config.from_mapping(config)
    twofactor.init_app(app)
    celery_init_app(app)
    return app


def config_from(env: dict[str, str]) -> dict[str, Any]:
    """The app's configuration for one test (its emulator, broker keys and queue)."""
    return {
        "TWOFACTOR_API_KEY": env["TFN_API_KEY"],
        "TWOFACTOR_BASE_URL": env["TFN_EMULATOR_URL"],
        "TWOFACTOR_SENDER_ID": "TFACTR",
        "TWOFACTOR_LOAD_ENTRYPOINTS": False,
        "TWOFACTOR_TIMEOUT": 2,  # below the short lease of these tests
        "TWOFACTOR_BACKGROUND": {
            "ENGINE": "celery",
            "REDIS_URL": env["TFN_BROKER_URL"],
            "QUEUE": env["TFN_QUEUE"],
            "KEY_PREFIX": env["TFN_LEDGER_PREFIX"],
            "LEASE_SECONDS": 3,
        },
        "CELERY": {
            "broker_url": env["TFN_BROKER_URL"],
            "broker_transport_options": {
                "visibility_timeout": float(env["TFN_VISIBILITY"]),
                "global_keyprefix": env["TFN_KEYPREFIX"],
                "unacked_restore_interval": 1,
                "unacked_restore_throttle": 1,
                # a worker killed while it looks leaves the lock behind: 5 s, not 300 s
                "unacked_mutex_expire": 5,
            },
            "broker_connection_retry_on_startup": True,
            "task_ignore_result": True,
            "worker_hijack_root_logger": False,
        },
    }


if "TFN_QUEUE" in os.environ:
    flask_app = create_app(config_from(dict(os.environ)))
    celery_app = flask_app.extensions["celery"]
