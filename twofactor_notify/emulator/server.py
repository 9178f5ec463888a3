"""The HTTP side: a threading HTTP/1.1 keep-alive server on the standard library.

Every API request goes: draw faults -> (maybe reset before reading the body) -> read body ->
route (or a fault's canned answer) -> global and injected latency -> (maybe reset, hold or
truncate) -> answer in one write -> log with the key redacted. ``/__emulator__/`` requests
skip faults, latency and the request log.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .faults import FaultBook, fault_response, truncate
from .requestlog import RequestLogEntry, redact
from .wire import Request, Response, json_response

__all__ = ["EmulatorHTTPServer", "ServerApp"]

log = logging.getLogger("twofactor_notify.emulator.server")

INSPECTION_PREFIX = "/__emulator__/"
MAX_BODY = 32 * 1024 * 1024


class ServerApp(Protocol):
    """What the server needs from the emulator it serves."""

    faults: FaultBook
    latency_ms: float
    stopping: threading.Event

    def handle_api(self, request: Request) -> Response:
        """Answer an API request."""
        ...

    def handle_inspection(self, request: Request) -> Response:
        """Answer an ``/__emulator__/`` request."""
        ...

    def log_request(self, entry: RequestLogEntry) -> None:
        """Keep a (redacted) request log entry."""
        ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection, keep-alive, a deep accept backlog."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: ServerApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "2Factor-Emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log (the emulator logs redacted paths)."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # ------------------------------------------------------------------ flow

    def _serve(self) -> None:
        app = self.server.app
        path, _, query = self.path.partition("?")
        if path.startswith(INSPECTION_PREFIX):
            try:
                request = self._request(path, query)
            except _BodyTooLarge:
                self._send(json_response(413, {"error": "body too large"}))
                return
            self._send(app.handle_inspection(request))
            return
        started = time.perf_counter()
        plan = app.faults.draw(path)
        action = plan.action
        kind = action.kind if action is not None else None
        status: int | None = None
        logged = False

        def record() -> None:
            # Written before the answer (or the reset) goes out: the client may read the log as
            # soon as it has its answer, before this thread would reach the end of the request.
            nonlocal logged
            if logged:
                return
            logged = True
            duration = (time.perf_counter() - started) * 1000.0
            clean = redact(path, query)
            app.log_request(RequestLogEntry(self.command, clean, status, duration, kind))
            log.debug("%s %s -> %s (%.1f ms)", self.command, clean, status, duration)

        try:
            if kind == "reset_before":
                record()
                self._reset()
                return
            try:
                request = self._request(path, query)
            except _BodyTooLarge:
                response = json_response(413, {"Status": "Error", "Details": "Body Too Large"})
                self.close_connection = True
                status = response.status
                record()
                self._send(response)
                return
            if action is not None and kind in ("status", "html"):
                response = fault_response(action)
            else:
                response = self._route(app, request)
            delay = app.latency_ms / 1000.0 + plan.latency_s
            if delay > 0:
                app.stopping.wait(delay)
            if kind == "reset_after":
                record()
                self._reset()
                return
            if action is not None and kind == "timeout":
                record()  # before the hold: the next test's reset() must not see it land
                app.stopping.wait(action.seconds)
                self.close_connection = True
                return
            if kind == "truncated":
                response = truncate(response)
            # Logged before the answer goes out: a client that has its answer may read the log.
            status = response.status
            record()
            self._send(response)
        finally:
            record()

    @staticmethod
    def _route(app: ServerApp, request: Request) -> Response:
        try:
            return app.handle_api(request)
        except Exception:
            log.exception("emulator route failed for %s %s", request.method, redact(request.path))
            return json_response(500, {"Status": "Error", "Details": "Emulator Internal Error"})

    # ------------------------------------------------------------------ socket work

    def _request(self, path: str, query: str) -> Request:
        headers = {name.lower(): value for name, value in self.headers.items()}
        return Request(self.command, path, query, headers, self._read_body(headers))

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _BodyTooLarge
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, response: Response) -> None:
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in response.headers.items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + response.body)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the connection with a TCP RST, without answering."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass
