"""Helpers for testing an app that uses the extension.

* :func:`record_messages` collects what an app sends (like Flask-Mail's);
* :func:`last_otp` reads the OTP the suppressed (in-memory) transport generated;
* :class:`LiveServer` runs the app on ``127.0.0.1`` in a thread, so that an outside
  caller (the 2Factor emulator's delivery callbacks) can reach its webhooks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from twofactor_notify.models import Message
from twofactor_notify.transport import InMemoryTransport

from .extension import get_state
from .signals import message_sent

__all__ = ["LiveServer", "last_otp", "record_messages"]


def _app(app: Flask | None) -> Flask:
    if app is not None:
        return app
    real: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return real


@contextmanager
def record_messages(app: Flask | None = None) -> Iterator[list[Message]]:
    """Yield a list that fills with every message ``app`` sends inside the block.

    Messages are recorded as sent (after every ``before_send`` plugin), whichever path sent
    them and whether or not sending is suppressed. Failed or refused sends are not recorded.
    """
    target = _app(app)
    get_state(target)  # fail early when the extension is missing
    outbox: list[Message] = []

    def record(sender: Flask, *, message: Message, **extra: Any) -> None:
        outbox.append(message)

    with message_sent.connected_to(record, sender=target):
        yield outbox


def last_otp(phone: str, app: Flask | None = None) -> str | None:
    """The OTP last sent to ``phone`` by the app's suppressed or in-memory transport.

    :raises RuntimeError: when the app sends for real (nothing to read then).
    """
    transport = get_state(_app(app)).transport
    if not isinstance(transport, InMemoryTransport):
        raise RuntimeError(
            "last_otp needs the in-memory transport (TWOFACTOR_SUPPRESS or the "
            "'memory'/'console' backend)"
        )
    return transport.last_otp(phone)


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without the access log: a request line may carry ``?token=``."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing per request."""


class LiveServer:
    """Serve ``app`` with werkzeug on ``127.0.0.1`` and a free port, in a daemon thread.

    Requests are not logged: a webhook's request line carries its token.

    >>> with LiveServer(app) as server:
    ...     requests.post(server.url + "/twofactor/delivery/?token=...", json=report)
    """

    def __init__(self, app: Flask, *, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError("the live server is not running")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LiveServer:
        """Bind and start serving; returns ``self``."""
        self._server = make_server(
            self.host, 0, self.app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flask-twofactor-live", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
