"""What Sentry's stdlib integration keeps in memory holds no key.

The integration wraps ``http.client.HTTPConnection.putrequest`` and leaves on each
connection a span whose description and data are the URL it was given; the connection goes
back to the client's pool with it. Every public method of the client and of each transport
(discovered, as in ``test_secrets_at_the_boundary``) is called under Sentry, and everything
reachable from the object whose method was called (its session, adapters, pool, pooled
connections and their spans) is walked for the keys. The calls succeed, so the keys did
reach the emulator: they are placed below everything the walk sees.
"""

from __future__ import annotations

import http.client
import io
from contextlib import redirect_stdout

import pytest

from twofactor_notify.credentials import API_KEY_PLACEHOLDER, SECRET_KEY_PLACEHOLDER
from twofactor_notify.emulator import Emulator

from ..secret_scan import find_secrets_in_object, summarise
from ..sentry_capture import capture_sentry, sentry_sdk
from .test_secrets_at_the_boundary import CALLS, Call, _client, _invoke, _target


def _secrets(emulator: Emulator) -> dict[str, str]:
    return {"API key": emulator.api_key, "Secret-Key": emulator.secret_key or ""}


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_no_key_stays_in_sentrys_spans_or_the_pool(emulator: Emulator, call: Call) -> None:
    with capture_sentry() as transport, _client(emulator.url, emulator, timeout=10.0) as client:
        target = _target(call, client)
        with sentry_sdk.start_transaction(name=str(call)):
            error = _invoke(target, call)
        assert error is None, f"{call} failed: {error!r}"
        roots = {"target": target, "client": client}
        findings, _types = find_secrets_in_object(roots, _secrets(emulator))
    assert not findings, summarise(findings)
    assert emulator.api_key not in transport.text()


def test_the_walk_reaches_the_spans_on_pooled_connections(emulator: Emulator) -> None:
    """A guard on the guard: the walk does reach the span Sentry leaves on a connection
    (it finds the placeholder there), so a key in it would be found."""
    with capture_sentry(), _client(emulator.url, emulator, timeout=10.0) as client:
        with sentry_sdk.start_transaction(name="send"):
            client.send_otp("9876543210")
        findings, _types = find_secrets_in_object(client, {"placeholder": API_KEY_PLACEHOLDER})
    assert any("_sentrysdk_span" in f.path for f in findings), summarise(findings)


def test_http_clients_debug_output_shows_only_placeholders(emulator: Emulator) -> None:
    """``http.client``'s debuglevel prints every write above the socket: the placeholders,
    the Secret-Key's among them, while the keys reach the emulator (the calls succeed)."""
    out = io.StringIO()
    previous = http.client.HTTPConnection.debuglevel
    http.client.HTTPConnection.debuglevel = 1
    try:
        with redirect_stdout(out), _client(emulator.url, emulator, timeout=10.0) as client:
            sent = client.send_otp("9876543210")
            client.send_sms("9876543210", "hello", sender="TFACTR")
            client.send_sms_encrypted("9876543210", "hello", sender="TFACTR")
    finally:
        http.client.HTTPConnection.debuglevel = previous
    assert sent.session_id
    printed = out.getvalue()
    assert f"send: b'GET /API/V1/{API_KEY_PLACEHOLDER}/" in printed
    assert f"Secret-Key: {SECRET_KEY_PLACEHOLDER}" in printed
    for secret in _secrets(emulator).values():
        assert secret not in printed


def test_the_socket_gets_the_keys_only_for_the_placing_adapters_requests(
    emulator: Emulator,
) -> None:
    """A request of the same session that the client did not mark is written as it is,
    placeholder and all: the socket layer places keys only for the request it was told of."""
    with _client(emulator.url, emulator, timeout=10.0) as client:
        client.send_otp("9876543210")
        answer = client._session.get(
            f"{emulator.url}/API/V1/{API_KEY_PLACEHOLDER}/BAL/SMS", timeout=10
        )
    assert answer.status_code >= 400  # the emulator saw the placeholder, not a key
    assert emulator.api_key not in answer.text
