"""Network and proxy faults, driven through the emulator: which calls are retried, which are
never retried (a send that may have gone), and which error class each fault becomes."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests

from twofactor_notify import (
    APIConnectionError,
    InvalidResponseError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TwoFactorClient,
    TwoFactorError,
)

from .conftest import wait_for_requests

A = "9876543210"


class CountingSession(requests.Session):
    """A session that counts the requests it was asked to make (connected or not)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.attempts += 1
        return super().request(*args, **kwargs)


SENDS = {
    "otp": lambda c: c.send_otp(A, otp="4829"),
    "sms": lambda c: c.send_sms(A, "hello", sender="TFACTR"),
    "encrypted": lambda c: c.send_sms_encrypted(A, "hello", sender="TFACTR"),
    "bulk_chunk": lambda c: c.send_bulk_chunk(
        [__import__("twofactor_notify").BulkMessage(to=A, text="x", sender="TFACTR")]
    ),
}


@pytest.mark.parametrize("retries", [0, 2])
def test_connection_refused_is_retried_then_api_connection_error(closed_port, retries):
    session = CountingSession()
    client = TwoFactorClient(
        "a1b2c3d4-0000-1111-2222-333344445555",
        base_url=f"http://127.0.0.1:{closed_port}",
        session=session,
        connect_retries=retries,
        timeout=1.0,
    )
    with pytest.raises(APIConnectionError) as caught:
        client.send_otp(A)
    assert session.attempts == retries + 1
    assert "not sent" in str(caught.value)
    client.close()


@pytest.mark.parametrize("send", list(SENDS))
def test_reset_after_a_send_is_outcome_unknown_and_not_retried(emulator, make_client, send):
    client = make_client(connect_retries=3)
    emulator.inject("reset_after", times=1)
    with pytest.raises(OutcomeUnknownError) as caught:
        SENDS[send](client)
    assert isinstance(caught.value, RequestTimeoutError)
    entries = wait_for_requests(emulator, 1, grace=0.1)
    assert [e.fault for e in entries] == ["reset_after"]
    # the emulator did take the message: exactly why a retry would have sent it twice
    assert len(emulator.messages()) == 1


@pytest.mark.parametrize("send", ["otp", "sms"])
def test_read_timeout_on_a_send_is_outcome_unknown_and_not_retried(emulator, make_client, send):
    client = make_client(timeout=(2.0, 0.2), connect_retries=3)
    emulator.inject("timeout", times=1, seconds=0.4)
    with pytest.raises(OutcomeUnknownError):
        SENDS[send](client)
    entries = wait_for_requests(emulator, 1, grace=0.05)
    assert [e.fault for e in entries] == ["timeout"]
    assert len(emulator.messages()) == 1


def test_lookup_is_retried_after_a_reset(emulator, make_client):
    client = make_client(connect_retries=2)
    sent = client.send_sms(A, "hello", sender="TFACTR")
    emulator.inject("reset_after", times=1, match="/API/R1/")
    found = client.lookup_delivery(sent.message_id)
    assert found.found
    entries = wait_for_requests(emulator, 3, grace=0.05)
    assert [e.fault for e in entries] == [None, "reset_after", None]


def test_lookup_timeout_is_retried_then_request_timeout(emulator, make_client):
    client = make_client(timeout=(2.0, 0.15), connect_retries=1)
    emulator.inject("timeout", times=2, seconds=0.3)
    with pytest.raises(RequestTimeoutError) as caught:
        client.lookup_delivery("abc", date.today())
    assert not isinstance(caught.value, OutcomeUnknownError)
    entries = wait_for_requests(emulator, 2, grace=0.05)
    assert [e.fault for e in entries] == ["timeout", "timeout"]


def test_verify_reset_is_not_retried(emulator, make_client):
    # a verification uses the OTP up: a blind retry would answer "expired" to a right code
    client = make_client(connect_retries=3)
    sent = client.send_otp(A, otp="4829")
    emulator.inject("reset_after", times=1)
    with pytest.raises(TwoFactorError):
        client.verify_otp("4829", session_id=sent.session_id)
    assert len(wait_for_requests(emulator, 2, grace=0.1)) == 2


def test_reset_before_reading_a_lookup_is_retried(emulator, make_client):
    client = make_client(connect_retries=1)
    emulator.inject("reset_before", times=1)
    assert not client.lookup_delivery("abc", date.today()).found
    entries = wait_for_requests(emulator, 2, grace=0.05)
    assert [e.fault for e in entries] == ["reset_before", None]


@pytest.mark.parametrize("send", list(SENDS))
def test_429_is_rate_limited_with_retry_after(emulator, client, send):
    emulator.inject("status", times=1, status=429, retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        SENDS[send](client)
    assert caught.value.status == 429
    assert caught.value.retry_after == 7.0
    assert len(wait_for_requests(emulator, 1, grace=0.05)) == 1
    assert emulator.messages() == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("send", list(SENDS))
def test_5xx_is_server_error(emulator, client, send, status):
    emulator.inject("status", times=1, status=status)
    with pytest.raises(ServerError) as caught:
        SENDS[send](client)
    assert caught.value.status == status


def test_5xx_on_verify_and_lookup(emulator, client):
    emulator.inject("status", times=2, status=503)
    with pytest.raises(ServerError):
        client.verify_otp("1234", session_id="abc")
    with pytest.raises(ServerError):
        client.lookup_delivery("abc", date.today())


CALLS = {
    **SENDS,
    "verify": lambda c: c.verify_otp("4829", session_id="abc"),
    "lookup": lambda c: c.lookup_delivery("abc", date.today()),
}


def _not_json_decode_error(exc: BaseException) -> None:
    seen = exc
    while seen is not None:
        assert not isinstance(seen, json.JSONDecodeError)
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("call", list(CALLS))
def test_html_page_is_invalid_response(emulator, client, call, status):
    emulator.inject("html", times=1, status=status)
    with pytest.raises(InvalidResponseError) as caught:
        CALLS[call](client)
    _not_json_decode_error(caught.value)
    assert caught.value.status == status


@pytest.mark.parametrize("call", list(CALLS))
def test_html_502_from_a_proxy_is_a_server_error(emulator, client, call):
    emulator.inject("html", times=1, status=502)
    with pytest.raises(ServerError) as caught:
        CALLS[call](client)
    _not_json_decode_error(caught.value)


@pytest.mark.parametrize("call", list(CALLS))
def test_truncated_json_is_invalid_response(emulator, client, call):
    emulator.inject("truncated", times=1)
    with pytest.raises(InvalidResponseError) as caught:
        CALLS[call](client)
    _not_json_decode_error(caught.value)


def test_latency_within_the_timeout_is_fine(emulator, make_client):
    client = make_client(timeout=(2.0, 1.0))
    emulator.inject("latency", times=1, latency_ms=100)
    assert client.send_otp(A).session_id
    assert wait_for_requests(emulator, 1)[0].duration_ms >= 100
