"""The WSGI apps gunicorn serves in the storm (:mod:`benchmarks.storm`).

``benchmarks.storm_wsgi:django_app()`` and ``benchmarks.storm_wsgi:flask_app()``. Both carry
the same two extras: :class:`Recorder`, an ``on_delivery`` plugin writing each announced
report's dedupe key to ``STORM_RECORD_DIR`` (one file per worker; the benchmark counts
announcements from them), and a receiver that raises for ``STORM_FAIL_RATE`` of the reports
(a Django signal receiver, a Flask signal receiver).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from twofactor_notify import hookimpl

TOKEN = "storm-webhook-token-0123456789"
_fd: int | None = None
_fail_rate = float(os.environ.get("STORM_FAIL_RATE", "0.1"))


def record(key: str) -> None:
    """Append ``key`` to this worker's record file (one ``write``: lines never interleave)."""
    global _fd
    directory = os.environ.get("STORM_RECORD_DIR")
    if not directory:
        return
    if _fd is None:
        path = os.path.join(directory, f"announced-{os.getpid()}.txt")
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(_fd, (key + "\n").encode())


class Recorder:
    """``on_delivery``: record the report as announced."""

    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        record(report.dedupe_key)


def flaky_receiver(sender: Any, **kwargs: Any) -> None:
    """A receiver that raises for a share of the reports (``STORM_FAIL_RATE``)."""
    if random.random() < _fail_rate:
        raise RuntimeError("the storm's flaky receiver")


def django_app() -> Any:
    """The Django project of :mod:`benchmarks.storm_settings`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.storm_settings")
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    from django_twofactor.signals import delivery_report_received

    delivery_report_received.connect(flaky_receiver, dispatch_uid="storm-flaky")
    return application


def flask_app() -> Any:
    """A Flask app with the extension, and a one-write baseline view."""
    from flask import Flask, jsonify, request

    from flask_twofactor import TwoFactor
    from flask_twofactor.signals import delivery_received

    app = Flask("storm")
    app.config.update(
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=TOKEN,
        TWOFACTOR_WEBHOOK_QUERY_TOKEN=True,  # the emulator, like 2Factor, posts to a URL
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
        TWOFACTOR_PLUGINS=[Recorder()],
    )
    TwoFactor(app)
    delivery_received.connect(flaky_receiver, sender=app, weak=False)

    @app.post("/baseline/delivery/")
    def baseline_delivery() -> Any:
        if request.args.get("token") != TOKEN:
            return jsonify(ok=False), 403
        data = json.loads(request.get_data())
        record(f"{data['SessionId']}:+91{data['SmsTo']}:{data['SmsStatus']}")
        return jsonify(ok=True, received=1)

    return app
