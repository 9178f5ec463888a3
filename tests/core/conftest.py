"""Fixtures of the core suite: the emulator (from the project's pytest plugin), clients
that record what went on the wire, a closed port, and a tiny local webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator, RequestLogEntry
from twofactor_notify.errors import WebhookError
from twofactor_notify.hooks import hookimpl
from twofactor_notify.transport import InMemoryTransport, Transport
from twofactor_notify.webhooks import WebhookReceiver

WEBHOOK_TOKEN = "hook-token-5f1c2a9e"


@pytest.fixture
def emulator(twofactor_emulator: Emulator, wire: Wire) -> Iterator[Emulator]:
    """The plugin's per-test emulator; settings a test changes are put back afterwards.

    The emulator logs a request just after answering it; at teardown the log is awaited so
    that a late entry cannot land in the next test's (freshly reset) log.
    """
    saved = (
        twofactor_emulator.otp_ttl,
        twofactor_emulator.callback_url,
        twofactor_emulator.delivery_delay,
        twofactor_emulator.sandbox_style_success,
        twofactor_emulator.latency_ms,
    )
    yield twofactor_emulator
    wait_for_requests(twofactor_emulator, len(wire.calls), timeout=1.0)
    (
        twofactor_emulator.otp_ttl,
        twofactor_emulator.callback_url,
        twofactor_emulator.delivery_delay,
        twofactor_emulator.sandbox_style_success,
        twofactor_emulator.latency_ms,
    ) = saved
    twofactor_emulator.clear_faults()


@dataclass
class Wire:
    """What a client put on the wire, secrets removed: (method, path, form-or-json body)."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def record(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        request = response.request
        parts = urlsplit(request.url or "")
        path = parts.path
        if path.startswith("/API/V1/"):
            segments = path.split("/")
            segments[3] = "<key>"
            path = "/".join(segments)
        if parts.query:
            path += "?" + parts.query
        body: Any = request.body
        if isinstance(body, str):
            body = body.encode()
        ctype = request.headers.get("Content-Type", "")
        if body and "json" in ctype:
            body = json.loads(body)
            body.pop("apikey", None)
        elif body and "form-urlencoded" in ctype:
            body = dict(parse_qsl(body.decode(), keep_blank_values=True))
            body.pop("apikey", None)
        self.calls.append((request.method or "", path, body))

    @property
    def last_body(self) -> Any:
        return self.calls[-1][2]


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def make_client(emulator: Emulator, wire: Wire) -> Iterator[Callable[..., TwoFactorClient]]:
    """``make_client(**kwargs)``: a client for the emulator whose traffic lands in ``wire``."""
    made: list[TwoFactorClient] = []

    def factory(**kwargs: Any) -> TwoFactorClient:
        session = requests.Session()
        session.hooks["response"].append(wire.record)
        kwargs.setdefault("api_key", emulator.api_key)
        kwargs.setdefault("base_url", emulator.url)
        kwargs.setdefault("secret_key", emulator.secret_key)
        kwargs.setdefault("timeout", 5.0)
        kwargs.setdefault("session", session)
        client = TwoFactorClient(**kwargs)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
        client._session.close()


@pytest.fixture
def client(make_client: Callable[..., TwoFactorClient]) -> TwoFactorClient:
    return make_client()


def wait_for_requests(
    emulator: Emulator, count: int, *, grace: float = 0.0, timeout: float = 3.0
) -> list[RequestLogEntry]:
    """The emulator's request log once it holds ``count`` entries (the emulator writes an
    entry just after its answer went out), after ``grace`` more seconds in which an
    unexpected extra entry could show up."""
    deadline = time.monotonic() + timeout
    while len(emulator.requests) < count and time.monotonic() < deadline:
        time.sleep(0.002)
    if grace:
        time.sleep(grace)
    return emulator.requests


class RecordingPlugin:
    """Records every hook call (used by several modules)."""

    def __init__(self) -> None:
        self.before: list[Any] = []
        self.after: list[tuple[Any, Any, Any]] = []
        self.reports: list[Any] = []

    @hookimpl
    def before_send(self, message: Any, transport: Transport) -> None:
        self.before.append(message)

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Transport) -> None:
        self.after.append((message, receipt, error))

    @hookimpl
    def on_delivery(self, report: Any, transport: Transport) -> None:
        self.reports.append(report)


@dataclass
class WebhookServer:
    """A local HTTP server whose handler feeds bodies to a :class:`WebhookReceiver`."""

    url: str
    receiver: WebhookReceiver
    plugin: RecordingPlugin
    answers: list[int] = field(default_factory=list)

    def wait_for_reports(self, count: int, timeout: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.plugin.reports) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.plugin.reports)


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    plugin = RecordingPlugin()
    transport = InMemoryTransport(plugins=[plugin], load_entrypoints=False)
    receiver = WebhookReceiver(transport, WEBHOOK_TOKEN, query_token=True)  # as 2Factor posts
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            token = receiver.token_from(dict(parse_qsl(parts.query)), dict(self.headers))
            try:
                if parts.path.startswith("/click"):
                    receiver.receive_click(body, self.headers.get("Content-Type"), token)
                else:
                    receiver.receive_delivery(body, self.headers.get("Content-Type"), token)
                status = 200
            except WebhookError as exc:
                status = exc.http_status
            answers.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield WebhookServer(f"http://{host!s}:{port}", receiver, plugin, answers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)
