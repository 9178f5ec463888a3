"""twofactor_notify.sentry, with the real sentry-sdk: default integrations (the stdlib one
records every HTTP call's URL, and 2Factor's V1 URL carries the key), local variables and
PII on, every transaction sampled, and a transport that keeps the envelopes in a list.

Without the scrubber the key reaches Sentry (the test proves it, so it can fail); with it,
neither the key, the secret key nor the OTP appears in anything Sentry would send."""

from __future__ import annotations

import subprocess
import sys

import pytest

from twofactor_notify import ServerError, TwoFactorClient
from twofactor_notify.credentials import API_KEY_PLACEHOLDER
from twofactor_notify.emulator import Emulator
from twofactor_notify.sentry import SENTRY_OPTIONS, install, scrub

from ..sentry_capture import (
    capture_sentry,
    scrubbing_hooks,
    sentry_sdk,
    without_the_global_processor,
    without_twofactor_scrubber,
)

PHONE = "9876543210"
OTP = "482913"
SECRET_KEY = "sk-Sentry+Secret/Key=9"


def _exercise(emulator: Emulator) -> None:
    client = TwoFactorClient(emulator.api_key, base_url=emulator.url, secret_key=SECRET_KEY)
    try:
        with sentry_sdk.start_transaction(name="otp flow", op="test"):
            sent = client.send_otp(PHONE, otp=OTP)
            client.verify_otp(OTP, session_id=sent.session_id)
            client.verify_otp(OTP, phone=PHONE)
            client.send_sms(PHONE, "hello", sender="TFACTR")
        sentry_sdk.capture_message("after the calls")
        emulator.inject("status", status=503, times=10)
        try:
            client.send_otp(PHONE, otp=OTP)
        except ServerError:
            sentry_sdk.capture_exception()
        else:  # pragma: no cover - the fault makes the call fail
            pytest.fail("the injected 503 did not fail the call")
    finally:
        emulator.clear_faults()
        client.close()


def test_without_the_scrubber_the_code_and_number_reach_sentry_but_no_key(
    twofactor_emulator: Emulator,
) -> None:
    """The stdlib integration records each V1 URL as ``putrequest`` is given it: the OTP
    and the number are in it (the scrubber's job), the keys are not (they are swapped in
    only on the bytes written to the socket)."""
    with without_twofactor_scrubber(), capture_sentry() as transport:
        _exercise(twofactor_emulator)
    text = transport.text()
    assert "after the calls" in text
    assert f"/{OTP}" in text and PHONE in text  # the stdlib integration saw the V1 URL
    assert API_KEY_PLACEHOLDER in text
    assert twofactor_emulator.api_key not in text
    assert SECRET_KEY not in text


def test_with_the_scrubber_no_key_token_or_otp_reaches_sentry(
    twofactor_emulator: Emulator,
) -> None:
    with capture_sentry(**SENTRY_OPTIONS) as transport:
        _exercise(twofactor_emulator)
    text = transport.text()
    kinds = {item.type for e in transport.envelopes for item in e.items}
    assert {"event", "transaction"} <= kinds
    assert "after the calls" in text and "ServerError" in text
    assert "/SMS/" in text  # the calls were recorded, scrubbed
    assert twofactor_emulator.api_key not in text
    assert SECRET_KEY not in text
    assert OTP not in text
    assert PHONE not in text


@pytest.mark.parametrize(
    "name", ["X-Twofactor-Token", "x_twofactor_token", "token", "Secret-Key", "api_key"]
)
def test_a_value_named_like_a_secret_is_redacted_whatever_it_is(name: str) -> None:
    event = {"request": {"headers": {name: "opaque-value"}, "env": [[name, "opaque-value"]]}}
    assert "opaque-value" not in repr(scrub(event))


@pytest.mark.parametrize(
    "value", [739184, 739184.0, ["Bearer 739184"], ("739184",), {"code": "739184"}, b"739184"]
)
@pytest.mark.parametrize("name", ["otp", "Authorization", "api_key"])
def test_a_value_named_like_a_secret_is_redacted_whatever_its_type(
    name: str, value: object
) -> None:
    event = {"exception": {"values": [{"stacktrace": {"frames": [{"vars": {name: value}}]}}]}}
    assert "739184" not in repr(scrub(event))


def test_a_query_token_and_a_v1_otp_path_are_redacted_in_any_string() -> None:
    event = {
        "request": {"query_string": "token=abc-def-ghi&x=1"},
        "spans": [
            {"description": "GET http://h/API/V1/k/SMS/+919876543210/123456"},
            {"description": "GET http://h/API/V1/k/SMS/VERIFY3/919812345678/654321"},
        ],
    }
    text = repr(scrub(event))
    assert "abc-def-ghi" not in text and "123456" not in text and "9876543210" not in text
    assert "654321" not in text and "9812345678" not in text
    assert "x=1" in text


def _assert_clean(transport: object, emulator: Emulator) -> None:
    text = transport.text()  # type: ignore[attr-defined]
    assert "after the calls" in text and "ServerError" in text and "/SMS/" in text
    for secret in (emulator.api_key, SECRET_KEY, OTP, PHONE):
        assert secret not in text


@pytest.mark.parametrize("order", ["init, then install", "install, then init"])
def test_install_scrubs_whatever_init_was_given_and_keeps_the_users_hooks(
    twofactor_emulator: Emulator, order: str
) -> None:
    seen: list[str] = []

    def users_before_send(event: dict[str, object], hint: object) -> dict[str, object]:
        seen.append(repr(event))
        event.setdefault("tags", {})["seen_by_the_user"] = "yes"  # type: ignore[union-attr]
        return event

    with without_the_global_processor():
        if order == "install, then init":
            install()
        with capture_sentry(before_send=users_before_send) as transport:
            if order == "init, then install":
                install()
            _exercise(twofactor_emulator)
            assert scrubbing_hooks(sentry_sdk.get_client()) == dict.fromkeys(
                ("before_send", "before_send_transaction", "before_breadcrumb"), 1
            )
    _assert_clean(transport, twofactor_emulator)
    assert seen and "seen_by_the_user" in transport.text()  # the user's hook still ran
    assert not any(twofactor_emulator.api_key in event or OTP in event for event in seen)


def test_install_again_changes_nothing(twofactor_emulator: Emulator) -> None:
    from sentry_sdk.scope import global_event_processors

    with without_the_global_processor(), capture_sentry() as transport:
        for _ in range(3):
            assert install() is True
        _exercise(twofactor_emulator)
        assert scrubbing_hooks(sentry_sdk.get_client()) == dict.fromkeys(
            ("before_send", "before_send_transaction", "before_breadcrumb"), 1
        )
        assert (
            sum(1 for p in global_event_processors if p.__module__ == "twofactor_notify.sentry")
            == 1
        )
    _assert_clean(transport, twofactor_emulator)


def test_options_given_to_init_are_not_wrapped_again(twofactor_emulator: Emulator) -> None:
    with capture_sentry(**SENTRY_OPTIONS) as transport:
        install()
        _exercise(twofactor_emulator)
        assert sentry_sdk.get_client().options["before_send"] is SENTRY_OPTIONS["before_send"]
    _assert_clean(transport, twofactor_emulator)


def test_install_without_sentry_sdk_says_so() -> None:
    code = (
        "import sys; sys.modules['sentry_sdk'] = None\n"
        "from twofactor_notify.sentry import install\n"
        "sys.exit(0 if install() is False else 1)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_module_does_not_import_sentry_sdk() -> None:
    code = "import sys, twofactor_notify.sentry; sys.exit('sentry_sdk' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
