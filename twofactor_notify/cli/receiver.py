"""A delivery-report webhook on 127.0.0.1, for the demo: http.server + the core receiver.

:class:`LocalDeliveryReceiver` serves ``POST /delivery?token=…`` from a thread and hands
each body to :class:`~twofactor_notify.webhooks.WebhookReceiver`, which checks the token,
parses, deduplicates and fires ``on_delivery``; :class:`DeliveryCollector` is a plugin that
keeps what ``on_delivery`` saw.
"""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..credentials import Secret
from ..errors import WebhookError
from ..hooks import hookimpl
from ..models import ClickReport, DeliveryReport
from ..redaction import forget_secret, register_secret
from ..transport import Transport
from ..webhooks import MAX_WEBHOOK_BYTES, TOKEN_PARAM, WebhookReceiver

__all__ = ["DeliveryCollector", "LocalDeliveryReceiver"]


class DeliveryCollector:
    """A plugin keeping every delivery report ``on_delivery`` receives, in arrival order."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return f"DeliveryCollector({len(self.reports)} reports)"

    @hookimpl
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Transport) -> None:
        """Keep delivery reports (clicks are ignored)."""
        if isinstance(report, DeliveryReport):
            with self._cond:
                self.reports.append(report)
                self._cond.notify_all()

    def wait(self, count: int, timeout: float) -> list[DeliveryReport]:
        """Wait up to ``timeout`` seconds for ``count`` reports; return those that came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.reports) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.reports)


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.webhooks = receiver
        super().__init__(("127.0.0.1", 0), _WebhookHandler)


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the query string carries the token."""

    def do_POST(self) -> None:
        """Accept a delivery report at ``/delivery``."""
        parts = urlsplit(self.path)
        if parts.path != "/delivery":
            self._answer(404, "not found")
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_WEBHOOK_BYTES:
            self.close_connection = True
            self._answer(413 if length > 0 else 400, "bad length")
            return
        body = self.rfile.read(length)
        webhooks = self.server.webhooks
        token = webhooks.token_from(dict(parse_qsl(parts.query)), dict(self.headers.items()))
        try:
            webhooks.receive_delivery(body, self.headers.get("Content-Type"), token)
        except WebhookError as exc:
            self._answer(exc.http_status, exc.message)
            return
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LocalDeliveryReceiver:
    """Serves delivery reports for ``transport`` on 127.0.0.1 (a free port) from a thread.

    >>> with LocalDeliveryReceiver(transport) as receiver:  # doctest: +SKIP
    ...     emulator.callback_url = receiver.callback_url
    """

    def __init__(self, transport: Transport) -> None:
        self._token = Secret(secrets.token_urlsafe(24))  # held: no repr or walk shows it
        register_secret(self._token.reveal())  # the emulator logs callback URLs (debug)
        self._server = _WebhookServer(WebhookReceiver(transport, self._token, query_token=True))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="twofactor-demo-webhook",
            daemon=True,
        )

    def __repr__(self) -> str:
        return f"LocalDeliveryReceiver(port={self.port})"

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def callback_url(self) -> str:
        """The URL to register, token included (keep it out of logs and output)."""
        return f"http://127.0.0.1:{self.port}/delivery?{TOKEN_PARAM}={self._token.reveal()}"

    def start(self) -> LocalDeliveryReceiver:
        """Serve from a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5.0)
        self._server.server_close()
        forget_secret(self._token.reveal())

    def __enter__(self) -> LocalDeliveryReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
