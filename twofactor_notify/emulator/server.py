"""The HTTP side: a threading HTTP/1.1 keep-alive server on the standard library.

Every API request goes: draw faults -> (maybe reset before reading the body) -> read body ->
route (or a fault's canned answer) -> global and injected latency -> (maybe reset, hold or
truncate) -> answer in one write -> log with the keys redacted. ``/__emulator__/`` requests
skip faults, latency and the request log.

Browsers are kept out of the inspection API (it can reset state, inject faults and show
OTPs): its requests must not carry an ``Origin`` header, its POST/PUT/PATCH/DELETE requests
must say ``Content-Type: application/json`` (a cross-site "simple" request cannot), and its
``Host`` must be ``localhost``, an IP address or an allowed name (a DNS-rebinding page
carries its own domain name). On a loopback-bound server the ``Host`` rule covers every
request. :meth:`EmulatorHTTPServer.close_connections` ends kept-alive connections on stop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Collection
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from twofactor_notify.redaction import library_logger

from .faults import FaultBook, echo_response, fault_response, truncate
from .requestlog import RequestLogEntry
from .wire import Request, Response, json_response

__all__ = ["EmulatorHTTPServer", "ServerApp", "host_allowed", "is_loopback_host"]

log = library_logger("twofactor_notify.emulator.server")

INSPECTION_PREFIX = "/__emulator__/"
MAX_BODY = 32 * 1024 * 1024
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.1``, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(header: str | None, allowed: Collection[str] = ()) -> bool:
    """Whether a ``Host`` header may reach the emulator: none at all, ``localhost``, an IP
    literal (a DNS-rebinding attack needs a domain name) or one of ``allowed``."""
    if not header:
        return True
    value = header.strip().lower()
    if value.startswith("["):
        name = value[1 : value.find("]")] if "]" in value else value
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    name = name.rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or name in allowed:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class ServerApp(Protocol):
    """What the server needs from the emulator it serves."""

    faults: FaultBook
    latency_ms: float
    stopping: threading.Event
    allowed_hosts: Collection[str]

    def handle_api(self, request: Request) -> Response:
        """Answer an API request."""
        ...

    def handle_inspection(self, request: Request) -> Response:
        """Answer an ``/__emulator__/`` request."""
        ...

    def log_generation(self) -> int:
        """The request log's generation now (taken when a request arrives)."""
        ...

    def log_request(self, entry: RequestLogEntry, generation: int | None = None) -> None:
        """Keep a (redacted) request log entry, unless a reset came after ``generation``."""
        ...

    def redact(self, path: str, query: str = "") -> str:
        """``path?query`` with every key hidden."""
        ...


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One thread per connection, keep-alive, a deep accept backlog; the connections are
    tracked so that :meth:`close_connections` can end the kept-alive ones."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], app: ServerApp) -> None:
        self.app = app
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _Handler)
        #: Bound to a loopback address: the ``Host`` check then covers every request.
        self.loopback = is_loopback_host(str(self.server_address[0]))

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve a new connection from its own (tracked) thread."""
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="2factor-emulator-connection",
            daemon=True,
        )
        with self._connections_lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def close_connections(self, timeout: float = 2.0) -> None:
        """Refuse new connections, end the open ones (kept-alive included) and wait up to
        ``timeout`` seconds for their threads."""
        with self._connections_lock:
            self._closing = True
            open_ = list(self._connections.items())
        for sock, _ in open_:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in open_:
            thread.join(max(0.0, deadline - time.monotonic()))


class _BodyTooLarge(Exception):
    pass


class _BadRequest(Exception):
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
        if app.stopping.is_set():  # stopping: drop the request unanswered
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        inspection = path.startswith(INSPECTION_PREFIX)
        if (inspection or self.server.loopback) and not host_allowed(
            self.headers.get("Host"), app.allowed_hosts
        ):
            self.close_connection = True
            self._send(json_response(403, {"error": "Host not allowed"}))
            return
        if inspection:
            self._serve_inspection(app, path, query)
            return
        started = time.perf_counter()
        generation = app.log_generation()
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
            clean = app.redact(path, query)
            entry = RequestLogEntry(self.command, clean, status, duration, kind)
            app.log_request(entry, generation)
            log.debug("%s %s -> %s (%.1f ms)", self.command, clean, status, duration)

        try:
            if kind == "reset_before":
                record()
                self._reset()
                return
            try:
                request = self._request(path, query)
            except (_BodyTooLarge, _BadRequest) as exc:
                if isinstance(exc, _BodyTooLarge):
                    response = json_response(413, {"Status": "Error", "Details": "Body Too Large"})
                else:
                    response = json_response(400, {"Status": "Error", "Details": "Bad Request"})
                self.close_connection = True
                status = response.status
                record()
                self._send(response)
                return
            if action is not None and kind in ("status", "html"):
                response = fault_response(action)
            elif action is not None and kind == "echo":
                response = echo_response(action, request)
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

    def _serve_inspection(self, app: ServerApp, path: str, query: str) -> None:
        refusal: Response | None = None
        if self.headers.get("Origin") is not None:
            refusal = json_response(403, {"error": "browser (Origin) requests are refused"})
        elif self.command in _STATE_CHANGING and (
            _media_type(self.headers.get("Content-Type")) != "application/json"
        ):
            refusal = json_response(415, {"error": "Content-Type must be application/json"})
        if refusal is not None:
            self.close_connection = True  # the body, if any, is left unread
            self._send(refusal)
            return
        try:
            request = self._request(path, query)
        except _BodyTooLarge:
            self.close_connection = True
            self._send(json_response(413, {"error": "body too large"}))
            return
        except _BadRequest:
            self.close_connection = True
            self._send(json_response(400, {"error": "malformed request body"}))
            return
        self._send(app.handle_inspection(request))

    @staticmethod
    def _route(app: ServerApp, request: Request) -> Response:
        try:
            return app.handle_api(request)
        except Exception:
            log.exception(
                "emulator route failed for %s %s", request.method, app.redact(request.path)
            )
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
            raise _BadRequest from None
        if length < 0:
            raise _BadRequest
        if length > MAX_BODY:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise _BadRequest  # the body ended before its last chunk
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest from None
            if size < 0:
                raise _BadRequest
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
