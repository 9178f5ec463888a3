"""Redaction under faults: the API key, the secret key and OTP values must be absent from
every error (str, repr, args, chained causes, formatted traceback), every log record of any
logger at DEBUG (urllib3 included) and every repr produced while every fault kind hits
every kind of call."""

from __future__ import annotations

import base64
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twofactor_notify import (
    BulkMessage,
    TwoFactorClient,
    TwoFactorError,
    TwoFactorTransport,
)
from twofactor_notify.plugins import LoggingPlugin
from twofactor_notify.redaction import REDACTED, forget_secret, redact, register_secret
from twofactor_notify.sentry import scrub_event

from ..secret_scan import find_secrets_in_text
from .test_scrub import SPELLINGS

A = "9876543210"
OTP6, OTP4 = "482913", "7351"

FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("latency+timeout", {}),
    ("reset_before", {}),
    ("reset_after", {}),
    ("status", {"status": 429, "retry_after": 3}),
    ("status", {"status": 500}),
    ("status", {"status": 503}),
    ("html", {"status": 502}),
    ("html", {"status": 200}),
    ("truncated", {}),
]


def _calls(transport: TwoFactorTransport) -> dict[str, Callable[[], Any]]:
    client = transport.client
    return {
        "send_otp": lambda: transport.send_otp(A, otp=OTP6, template="Login"),
        "send_otp_autogen2": lambda: transport.send_otp(A, include_otp=True),
        "verify_session": lambda: transport.verify_otp(OTP6, session_id="Dummy-12345"),
        "verify_phone": lambda: transport.verify_otp(OTP4, phone=A),
        "verify2": lambda: client.verify_otp_sandbox(OTP4, session_id="abc-123"),
        "send_sms": lambda: transport.send_sms(A, f"Your code is {OTP6}", sender="TFACTR"),
        "bulk": lambda: transport.send_bulk(
            [BulkMessage(to=A, text=f"code {OTP4}", sender="TFACTR")] * 3
        ),
        "encrypted": lambda: client.send_sms_encrypted(A, f"code {OTP6}", sender="TFACTR"),
        "lookup": lambda: client.lookup_delivery("09cfe5b29d000018a3acb36000000001", date.today()),
    }


def _texts_of_error(exc: BaseException) -> Iterator[str]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield str(e)
        yield repr(e)
        yield from (repr(a) for a in e.args)
        yield from (repr(v) for v in vars(e).values()) if hasattr(e, "__dict__") else ()
        todo += [e.__cause__, e.__context__]
    yield "".join(traceback.format_exception(exc))


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """The names (never the values) of the secrets found in ``text``.

    Keys are long and random: any occurrence is a leak. An OTP is a few digits, which a
    random session id or UUID may contain by chance (``...-7351a...``): it counts where it
    stands as a token of its own (in the text or its percent-decoded form), not inside a
    longer run of letters and digits.
    """
    found = []
    for name, value in secrets.items():
        if value.isdigit():
            pattern = rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])"
            if re.search(pattern, text) or re.search(pattern, unquote(text)):
                found.append(name)
        elif value in text:
            found.append(name)
    return found


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in (
        "urllib3",
        "urllib3.connectionpool",
        "urllib3.util.retry",
        "requests",
        "twofactor_notify",
        "charset_normalizer",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _client_side_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # the emulator's own loggers are the server side (the real 2Factor's logs): excluded
    return [r for r in caplog.records if not r.name.startswith("twofactor_notify.emulator")]


def test_fault_run_leaks_no_secret(emulator, make_client, closed_port, debug_logs):
    client = make_client(timeout=(2.0, 0.15), connect_retries=1)
    transport = TwoFactorTransport(client, plugins=[LoggingPlugin()], load_entrypoints=False)
    secrets = {
        "api key": emulator.api_key,
        "secret key": emulator.secret_key,
        "custom OTP": OTP6,
        "4-digit OTP": OTP4,
    }
    errors: list[BaseException] = []
    held = []  # timeout faults: their requests are logged when the emulator lets go
    reprs: list[str] = [repr(client), repr(transport), repr(client._codec)]
    calls = _calls(transport)

    # a clean round first (AUTOGEN2 returns a server-generated OTP: one more secret)
    for name, call in calls.items():
        try:
            result = call()
        except TwoFactorError as exc:  # pragma: no cover - shown on failure
            pytest.fail(f"{name} failed without a fault: {exc}")
        reprs.append(repr(result))
        if name == "send_otp_autogen2":
            secrets["AUTOGEN2 OTP"] = result.otp

    for kind, params in FAULTS:
        for call in calls.values():
            emulator.clear_faults()
            if kind == "latency+timeout":
                emulator.inject("latency", times=1, latency_ms=50)
                held.append(emulator.inject("timeout", times=2, seconds=0.25))
            else:
                emulator.inject(kind, times=2, **params)
            try:
                reprs.append(repr(call()))
            except TwoFactorError as exc:
                errors.append(exc)
    emulator.clear_faults()

    # connection refused (a closed port), on a client with the same keys
    refused = TwoFactorClient(
        emulator.api_key,
        base_url=f"http://127.0.0.1:{closed_port}",
        secret_key=emulator.secret_key,
        connect_retries=0,
        timeout=1.0,
    )
    refused_transport = TwoFactorTransport(
        refused, plugins=[LoggingPlugin()], load_entrypoints=False
    )
    try:
        for call in _calls(refused_transport).values():
            try:
                call()
            except TwoFactorError as exc:
                errors.append(exc)
    finally:
        refused.close()
    # wrong keys: the documented refusals
    for bad in (
        make_client(api_key="ffffffff-0000-1111-2222-333344445555"),
        make_client(secret_key="wrong-secret-key-0123456789abcdef"),
    ):
        for call in _calls(TwoFactorTransport(bad, load_entrypoints=False)).values():
            try:
                call()
            except TwoFactorError as exc:
                errors.append(exc)

    fired = sum(fault.fired for fault in held)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if sum(e.fault == "timeout" for e in emulator.requests) >= fired:
            break
        time.sleep(0.01)

    assert len(errors) >= len(FAULTS) * len(calls)
    kinds = {type(e).__name__ for e in errors}
    assert {
        "OutcomeUnknownError",
        "APIConnectionError",
        "RateLimitedError",
        "ServerError",
        "InvalidResponseError",
        "AuthenticationError",
        "RequestTimeoutError",
    } <= kinds

    for exc in errors:
        for text in _texts_of_error(exc):
            assert not _leaks(text, secrets), f"{type(exc).__name__} leaks a secret"
    for text in reprs:
        assert not _leaks(text, secrets), "a repr leaks a secret"
    records = _client_side_records(debug_logs)
    assert any(r.name.startswith("urllib3") for r in records)  # DEBUG capture did work
    for record in records:
        message = record.getMessage()
        assert not _leaks(message, secrets), f"log record of {record.name} leaks a secret"
        if record.exc_info:
            formatted = "".join(traceback.format_exception(*record.exc_info))
            assert not _leaks(formatted, secrets)
    handler_text = "\n".join(debug_logs.handler.format(r) for r in records)
    assert not _leaks(handler_text, secrets)


def test_redact_hides_registered_secrets_and_v1_otp_segments(emulator, client):
    key = emulator.api_key
    assert key not in redact(f"GET /API/V1/{key}/SMS/9876543210/AUTOGEN")
    assert REDACTED in redact(f"url={key}")
    for path in (
        "/API/V1/<redacted>/SMS/9876543210/482913/Login",
        "/API/V1/<redacted>/SMS/9876543210/482913",
        "/API/V1/<redacted>/SMS/VERIFY/abc-123/482913",
        "/API/V1/<redacted>/SMS/VERIFY3/9876543210/7351",
        '"GET /API/V1/<redacted>/SMS/VERIFY2/abc-123/7351 HTTP/1.1" 400 44',
    ):
        cleaned = redact(path)
        assert "482913" not in cleaned and "7351" not in cleaned, cleaned
    # what is not an OTP segment stays readable
    assert redact("/API/V1/x/SMS/9876543210/AUTOGEN3/Login") == (
        "/API/V1/x/SMS/9876543210/AUTOGEN3/Login"
    )
    assert "9876543210" in redact("/API/V1/x/SMS/VERIFY3/9876543210/7351")


def test_log_filter_cleans_tracebacks_too(caplog) -> None:
    import logging

    from twofactor_notify import TwoFactorClient
    from twofactor_notify.redaction import RedactingFilter

    key = "0f98701b-feed-beef-cafe-0123456789ab"
    with TwoFactorClient(key, base_url="http://127.0.0.1:9"):
        logger = logging.getLogger("tests.redaction.traceback")
        logger.addFilter(RedactingFilter())
        try:
            raise RuntimeError(f"GET /API/V1/{key}/SMS/9876543210/AUTOGEN failed")
        except RuntimeError:
            with caplog.at_level(logging.ERROR, logger=logger.name):
                logger.exception("boom")
        logger.filters.clear()
    (record,) = [r for r in caplog.records if r.name == logger.name]
    assert record.exc_text and key not in record.exc_text
    assert "<redacted>" in record.exc_text
    assert key not in caplog.text


def test_webhook_token_prefers_the_header() -> None:
    from twofactor_notify import InMemoryTransport
    from twofactor_notify.webhooks import TOKEN_HEADER, WebhookReceiver

    receiver = WebhookReceiver(InMemoryTransport(load_entrypoints=False), "t" * 20)
    assert receiver.token_from({"token": "query"}, {}) is None  # the query form is opt-in
    receiver = WebhookReceiver(
        InMemoryTransport(load_entrypoints=False), "t" * 20, query_token=True
    )
    assert receiver.token_from({"token": "query"}, {TOKEN_HEADER: "header"}) == "header"
    assert receiver.token_from({"token": "query"}, {}) == "query"


def test_a_client_finalized_while_the_registry_is_rebuilt_does_not_deadlock() -> None:
    """Building the redaction pattern allocates; a garbage collection in the middle of it may
    run a finalizer that closes a client and forgets its key (the same thread, the registry
    already held). That must neither hang nor leave the registry wrong."""
    import gc
    import sys
    import threading

    from twofactor_notify.redaction import forget_secret, redact, register_secret

    outer, inner = "outer-secret-0123456789", "inner-secret-9876543210"
    register_secret(inner)
    fired: list[bool] = []

    def inside_rebuild() -> bool:
        frame = sys._getframe()
        while frame is not None:
            if frame.f_code.co_name == "_rebuild":
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def forget_inner(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not fired and inside_rebuild():
            fired.append(True)
            forget_secret(inner)

    def work() -> None:
        threshold = gc.get_threshold()
        gc.callbacks.append(forget_inner)
        gc.set_threshold(1)  # a collection at the next allocation: inside the rebuild
        try:
            register_secret(outer)
        finally:
            gc.set_threshold(*threshold)
            gc.callbacks.remove(forget_inner)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "register_secret deadlocked on a nested forget_secret"
    try:
        assert fired
        assert redact(f"a {outer} b {inner}") == f"a <redacted> b {inner}"
    finally:
        forget_secret(outer)


@pytest.mark.parametrize("spelling", sorted(set(SPELLINGS) - {"an escape inside another"}))
def test_redact_hides_a_registered_secret_in_every_placeable_spelling(spelling: str) -> None:
    """The spellings the key-placing layer knows (tests/core/test_scrub.py), for the log
    filter and the Sentry scrubber: a log line can quote an echo the layer never saw (urllib3
    logs the raw header lines it could not parse)."""
    secret = 'Reg1stered-Secret/"x"-0123456789'
    register_secret(secret)
    try:
        spelled = SPELLINGS[spelling](secret)
        assert find_secrets_in_text(f"x {spelled} y", {"secret": secret}), "the scan sees it"
        cleaned = redact(f"said: {spelled} (end)")
        assert find_secrets_in_text(cleaned, {"secret": secret}) == [], cleaned
        assert cleaned == f"said: {REDACTED} (end)"
    finally:
        forget_secret(secret)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_=+/-]{11,39}", fullmatch=True),
    before=st.binary(max_size=12),
    after=st.binary(max_size=12),
    urlsafe=st.booleans(),
    padded=st.booleans(),
)
def test_redact_and_the_sentry_scrubber_hide_a_registered_secret_in_base64(
    secret: str, before: bytes, after: bytes, urlsafe: bool, padded: bool
) -> None:
    """A registered secret Base64-encoded inside other bytes (``Basic`` credentials, an
    echo), at each of the 3 alignments the bytes before it give: the whole Base64 run goes,
    in redact() (the log filter) and in the Sentry scrubber."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode(before + secret.encode() + after).decode("ascii")
    encoded = encoded if padded else encoded.rstrip("=")
    text = f"Authorization: Basic {encoded} (end)"
    assert find_secrets_in_text(text, {"secret": secret}), "the scan sees it"
    register_secret(secret)
    try:
        for cleaned in (redact(text), scrub_event({"message": text})["message"]):
            assert cleaned == f"Authorization: Basic {REDACTED} (end)", cleaned
    finally:
        forget_secret(secret)
