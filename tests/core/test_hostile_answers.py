"""Answers the emulator does not give: cut-off bodies, redirects, echoed keys, odd headers.

A small raw-socket server plays the misbehaving peer (a proxy, a gateway, a broken load
balancer), since these are about what reaches the client, not about 2Factor's API.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from twofactor_notify import (
    APIConnectionError,
    AuthenticationError,
    BulkMessage,
    ConfigurationError,
    InMemoryTransport,
    InvalidResponseError,
    OutcomeUnknownError,
    RateLimitedError,
    SendRefusedError,
    ServerError,
    TwoFactorClient,
    hookimpl,
)
from twofactor_notify.plugins import InMemoryCounterStore, SendGuard

API_KEY = "abcd1234-5678-90ef-KEYX-SECRETAPIKEY"
Reply = Callable[[bytes], bytes]


class RawPeer:
    """Accepts connections, reads one request each, answers with ``reply(request)`` bytes."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                conn.sendall(self.reply(self.requests[-1]))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer() -> Iterator[Callable[[Reply], RawPeer]]:
    started: list[RawPeer] = []

    def start(reply: Reply) -> RawPeer:
        started.append(RawPeer(reply))
        return started[-1]

    yield start
    for p in started:
        p.close()


def answer(status: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body) if length is None else length}"]
    lines += [*headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body  # headers are latin-1


def client_for(url: str, **kwargs: Any) -> TwoFactorClient:
    return TwoFactorClient(API_KEY, base_url=url, connect_retries=0, **kwargs)


def test_a_send_whose_answer_is_cut_short_is_outcome_unknown(peer) -> None:
    server = peer(lambda _: answer("200 OK", b'{"Status":"Success","Det', length=200))
    with client_for(server.url) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            client.send_sms("9876543210", "hello", sender="TFACTR")
    assert info.value.outcome_unknown
    assert not isinstance(info.value, APIConnectionError)
    assert len(server.requests) == 1  # not retried


def test_a_verification_whose_answer_is_cut_short_is_outcome_unknown(peer) -> None:
    server = peer(lambda _: answer("200 OK", b'{"Status":"Error","Det', length=200))
    with client_for(server.url) as client:
        with pytest.raises(OutcomeUnknownError):
            client.verify_otp("123456", session_id="abc-123")
    assert len(server.requests) == 1


def test_redirects_are_not_followed(peer) -> None:
    elsewhere = peer(lambda _: answer("200 OK", b'{"Status":"Success","Details":"evil"}'))
    location = f"Location: {elsewhere.url}/API/R1/"
    server = peer(lambda _: answer("307 Temporary Redirect", b"", location))
    with client_for(server.url, secret_key="S3cretKey-For-ENC-0123456789abcdef") as client:
        with pytest.raises(InvalidResponseError) as info:
            client.send_sms("9876543210", "hello", sender="TFACTR")
        assert info.value.status == 307
        with pytest.raises(InvalidResponseError):
            client.send_sms_encrypted("9876543210", "hello", sender="TFACTR")
    assert elsewhere.requests == []  # neither the form's apikey nor the Secret-Key went there


@pytest.mark.parametrize(
    ("status", "cls"), [("503 Unavailable", ServerError), ("429 Slow", RateLimitedError)]
)
def test_details_echoing_the_key_are_redacted(peer, status: str, cls: type) -> None:
    echo = json.dumps(
        {"Status": "Error", "Details": f"upstream failed for /API/V1/{API_KEY}/SMS/9876543210"}
    ).encode()
    server = peer(lambda _: answer(status, echo, "Retry-After: \u00b2"))
    with client_for(server.url) as client:
        with pytest.raises(cls) as info:
            client.send_otp("9876543210")
    error = info.value
    assert API_KEY not in repr(error) and API_KEY not in str(error)
    assert API_KEY not in (error.details or "")
    if isinstance(error, RateLimitedError):
        assert error.retry_after is None  # '²' is a digit to str.isdigit, not a number


@pytest.mark.parametrize("status", ["500 Internal Server Error", "502 Bad Gateway", "504 Timeout"])
def test_gateway_errors_after_a_send_are_outcome_unknown(peer, status: str) -> None:
    server = peer(lambda _: answer(status, b"<html>gateway</html>", "Content-Type: text/html"))
    with client_for(server.url) as client:
        with pytest.raises(ServerError) as info:
            client.send_sms("9876543210", "hello", sender="TFACTR")
    assert info.value.outcome_unknown


def test_a_503_is_not_outcome_unknown(peer) -> None:
    server = peer(lambda _: answer("503 Service Unavailable", b"busy"))
    with client_for(server.url) as client:
        with pytest.raises(ServerError) as info:
            client.send_sms("9876543210", "hello", sender="TFACTR")
    assert not info.value.outcome_unknown


def test_a_success_without_its_id_keeps_no_otp(peer) -> None:
    body = b'{"Status":"Success","Details":"","OTP":"482913"}'
    server = peer(lambda _: answer("200 OK", body))
    with client_for(server.url) as client:
        with pytest.raises(InvalidResponseError) as info:
            client.send_otp("9876543210", include_otp=True)
    assert info.value.outcome_unknown
    assert "482913" not in repr(vars(info.value))


def test_absurdly_nested_json_is_an_invalid_response(peer) -> None:
    server = peer(lambda _: answer("200 OK", b"[" * 50_000 + b"]" * 50_000))
    with client_for(server.url) as client:
        with pytest.raises(InvalidResponseError):
            client.send_otp("9876543210")


def test_bulk_answer_with_fields_of_the_wrong_type_raises_nothing_else(peer) -> None:
    server = peer(lambda _: answer("200 OK", b'{"success":true,"requestId":"r","messages":5}'))
    with client_for(server.url) as client:
        result = client.send_bulk([BulkMessage(to="9876543210", text="x", sender="TFACTR")])
    assert result.accepted == ()
    assert [f.outcome_unknown for f in result.failed_chunks] == [True]


def test_retry_logger_is_filtered(peer) -> None:
    server = peer(lambda _: answer("200 OK", b'{"Status":"Success","Details":"s"}'))
    with client_for(server.url):
        names = {"urllib3.util.retry", "urllib3.connectionpool", "werkzeug"}
        for name in names:
            assert logging.getLogger(name).filters, name


# ------------------------------------------------------------------ bulk sends stopped midway


def test_a_bulk_send_stopped_by_the_guard_reports_what_went_before() -> None:
    guard = SendGuard(per_number=None, global_limit=1500)
    transport = InMemoryTransport(plugins=[guard], load_entrypoints=False)
    messages = (BulkMessage(to=f"+9198{i:08d}", text=f"m{i}", sender="TFACTR") for i in range(2500))
    with pytest.raises(SendRefusedError) as info:
        transport.send_bulk(messages)
    partial = info.value.partial_result
    assert [a.index for a in partial.accepted] == list(range(1000))
    assert len(transport.outbox) == 1  # the first batch only


def test_a_plugin_may_not_change_a_bulk_batch_size() -> None:
    class DropFirst:
        @hookimpl
        def before_send(self, message, transport):  # type: ignore[no-untyped-def]
            if hasattr(message, "messages"):
                return type(message)(messages=message.messages[1:])
            return None

    transport = InMemoryTransport(plugins=[DropFirst()], load_entrypoints=False)
    batch = [BulkMessage(to=f"+91980000000{i}", text="x", sender="TFACTR") for i in range(3)]
    with pytest.raises(ConfigurationError, match="size"):
        transport.send_bulk(batch)
    assert transport.outbox == []


def test_the_guard_judges_the_message_as_other_plugins_left_it() -> None:
    class Rewrite:
        @hookimpl
        def before_send(self, message, transport):  # type: ignore[no-untyped-def]
            import dataclasses

            return dataclasses.replace(message, to=("+447911123456",))

    for order in ("guard first", "guard last"):
        plugins = [SendGuard(), Rewrite()] if order == "guard first" else [Rewrite(), SendGuard()]
        transport = InMemoryTransport(plugins=plugins, load_entrypoints=False)
        with pytest.raises(SendRefusedError):
            transport.send_sms("9876543210", "hi", sender="TFACTR")
        assert transport.outbox == [], order


def test_a_shared_counter_store_keeps_each_windows_counts() -> None:
    now = [0.0]
    store = InMemoryCounterStore(clock=lambda: now[0])
    hourly = [store.increment("hourly:n", 3600) for _ in range(3)]
    for i in range(2048):  # enough traffic on a short window to trigger pruning
        now[0] += 1.0
        store.increment(f"minute:{i}", 1)
    assert hourly == [1, 2, 3]
    assert store.increment("hourly:n", 3600) == 4


def test_retry_after_as_an_http_date(peer) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    server = peer(lambda _: answer("429 Too Many Requests", b"{}", f"Retry-After: {later}"))
    with client_for(server.url) as client:
        with pytest.raises(RateLimitedError) as info:
            client.send_otp("9876543210")
    assert info.value.retry_after is not None
    assert 100 < info.value.retry_after <= 120


def _frame_locals(exc: BaseException) -> list[str]:
    """repr() of every local of every frame an error reporter would capture."""
    shown = []
    tb = exc.__traceback__
    while tb is not None:
        shown += [repr(v) for v in tb.tb_frame.f_locals.values()]
        tb = tb.tb_next
    return shown


@pytest.mark.parametrize("call", ["send_otp", "verify_otp"])
def test_no_frame_of_a_raised_error_holds_the_key(closed_port: int, call: str) -> None:
    with client_for(f"http://127.0.0.1:{closed_port}") as client:
        with pytest.raises(APIConnectionError) as info:
            if call == "send_otp":
                client.send_otp("9876543210")
            else:
                client.verify_otp("123456", session_id="abc-123")
    leaked = [v for v in _frame_locals(info.value) if API_KEY in v]
    assert leaked == []


def test_no_frame_of_an_api_error_holds_the_key(peer) -> None:
    server = peer(
        lambda _: answer("400 Bad Request", b'{"Status":"Error","Details":"Invalid API Key"}')
    )
    with client_for(server.url) as client:
        with pytest.raises(AuthenticationError) as info:
            client.send_otp("9876543210")
    assert [v for v in _frame_locals(info.value) if API_KEY in v] == []
