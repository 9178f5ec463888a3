"""Fixtures of the emulator tests: the plugin's fixtures, a webhook receiver, examples.json."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

# The fixtures under test, imported so these tests run whether or not the package's pytest11
# entry point is installed (a conftest definition simply shadows the plugin's own).
from twofactor_notify.pytest_plugin import (  # noqa: F401
    twofactor_client,
    twofactor_emulator,
    twofactor_emulator_server,
    twofactor_last_otp,
    twofactor_transport,
)

REPO = Path(__file__).resolve().parents[2]
#: The reference's examples as the project's shared/ folder holds them (authoritative), and
#: the copy kept with these tests, so that a clone without shared/ still runs them.
SHARED_EXAMPLES = REPO / ".." / "shared" / "seed" / "examples.json"
KEPT_EXAMPLES = Path(__file__).with_name("reference_examples.json")


@pytest.fixture(scope="session")
def reference_examples() -> list[dict[str, Any]]:
    """The reference's requests with their documented examples."""
    source = SHARED_EXAMPLES if SHARED_EXAMPLES.is_file() else KEPT_EXAMPLES
    data = json.loads(source.read_text(encoding="utf-8"))
    requests_: list[dict[str, Any]] = data["requests"]
    return requests_


@dataclass
class Received:
    """One POST the receiver got."""

    path: str
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A little local HTTP server recording the webhooks POSTed to it."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.received.append(
                        Received(self.path, self.headers.get("Content-Type", ""), body)
                    )
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"got {len(self.received)} webhooks, expected {count}")
            return list(self.received)

    def clear(self) -> None:
        with self._cond:
            self.received.clear()
        self.status = 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Receiver:
    """A webhook receiver, emptied for this test."""
    _receiver_server.clear()
    return _receiver_server
