"""An app factory under Sentry's Flask integration, with no scrubbing options of its own:
the extension's ``init_app`` makes Sentry scrub what it sends.

Every public method of the extension that talks to 2Factor (discovered from the class; its
arguments built from :data:`ARGUMENTS` by parameter name, a name the table does not know
failing the test) is called inside a view, under faults of the emulator; the view fails
(with the library's error, or its own if the call did not raise), so Sentry captures the
error with the view's frames and their variables, the request (its URL, query string with
the webhook token, headers with the token) and the breadcrumbs of the calls (2Factor's V1
URLs hold the key and the OTP). A delivery webhook with a bad payload is posted too. What
Sentry would send must hold neither the API key, the secret key, the OTP nor the token. The
scrubber the Django app of the test session installed is taken out first, so it is the
extension's own ``init_app`` that must install it.
Without the scrubber (:func:`tests.sentry_capture.without_twofactor_scrubber`) it holds
them, so the test can fail.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Config, Flask

from flask_twofactor import TwoFactor
from twofactor_notify.credentials import API_KEY_PLACEHOLDER
from twofactor_notify.emulator import Emulator

from ..secret_scan import find_secrets_in_object, summarise
from ..sentry_capture import (
    ListTransport,
    capture_sentry,
    without_the_global_processor,
    without_twofactor_scrubber,
)
from .conftest import WEBHOOK_TOKEN

FlaskIntegration = pytest.importorskip("sentry_sdk.integrations.flask").FlaskIntegration

PHONE = "9876543210"
OTP = "482913"
SECRET_KEY = "sk-Flask+Sentry/Secret=4"

#: A value for each parameter a sending method may take, by name.
ARGUMENTS: dict[str, Any] = {
    "to": PHONE,
    "text": "Your order has shipped",
    "otp": OTP,
    "code": OTP,
    "phone": PHONE,
    "messages": [{"to": PHONE, "text": "Your statement is ready", "sender": "TFACTR"}],
}
#: Parameters left to their defaults (another way to say the same, or options).
DEFAULTED = {"self", "session_id"}
#: Public methods that do not talk to 2Factor.
NOT_SENDING = {"init_app", "record_messages"}
FAULTS = {"503": ("status", {"status": 503}), "key echoed back": ("echo", {})}


def _sending_methods() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(TwoFactor, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_SENDING
    )


def _arguments(name: str) -> dict[str, Any]:
    kwargs = {}
    for parameter in inspect.signature(getattr(TwoFactor, name)).parameters.values():
        if parameter.name in ARGUMENTS:
            kwargs[parameter.name] = ARGUMENTS[parameter.name]
        elif parameter.default is inspect.Parameter.empty and parameter.name not in DEFAULTED:
            pytest.fail(f"TwoFactor.{name}: no entry for {parameter.name!r} in ARGUMENTS")
    return kwargs


class ViewFailed(RuntimeError):
    """The view's own failure, when the extension's call did not raise."""


def create_app(twofactor: TwoFactor, emulator: Emulator) -> Flask:
    """The application's factory: config, extension, views."""
    app = Flask("sentry_app")
    app.config.update(
        TESTING=False,
        PROPAGATE_EXCEPTIONS=False,  # a failing view is a 500, as in production
        TWOFACTOR_BACKEND="2factor",
        TWOFACTOR_SUPPRESS=False,
        TWOFACTOR_API_KEY=emulator.api_key,
        TWOFACTOR_SECRET_KEY=SECRET_KEY,
        TWOFACTOR_BASE_URL=emulator.url,
        TWOFACTOR_TIMEOUT=2,
        TWOFACTOR_SENDER_ID="TFACTR",
        TWOFACTOR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        TWOFACTOR_WEBHOOK_QUERY_TOKEN=True,
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
    )
    twofactor.init_app(app)

    @app.post("/call/<name>")
    def call(name: str) -> str:
        method: Callable[..., Any] = getattr(twofactor, name)
        kwargs = _arguments(name)
        result = method(**kwargs)
        raise ViewFailed(f"{name} returned {result!r} with {kwargs!r}")

    return app


def _exercise(emulator: Emulator, fault: str) -> tuple[list[str], ListTransport]:
    twofactor = TwoFactor()
    with capture_sentry(integrations=[FlaskIntegration()]) as transport:
        app = create_app(twofactor, emulator)
        client = app.test_client()
        kind, params = FAULTS[fault]
        methods = _sending_methods()
        for name in methods:
            emulator.inject(kind, times=100, **params)
            answer = client.post(
                f"/call/{name}?token={WEBHOOK_TOKEN}&otp={OTP}",
                headers={"X-Twofactor-Token": WEBHOOK_TOKEN},
                data={"note": "a form field"},
            )
            emulator.clear_faults()
            assert answer.status_code == 500, (name, answer.status_code)
        bad = client.post(
            f"/twofactor/delivery/?token={quote(WEBHOOK_TOKEN)}",
            data="{not a report",
            content_type="application/json",
            headers={"X-Twofactor-Token": WEBHOOK_TOKEN},
        )
        assert bad.status_code == 400
    return methods, transport


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_what_sentry_sends_from_a_flask_app_holds_no_key_otp_or_token(
    twofactor_emulator: Emulator, fault: str
) -> None:
    with without_the_global_processor():  # only this app's init_app may install it
        methods, transport = _exercise(twofactor_emulator, fault)
    assert methods and {"send_otp", "verify_otp", "send_sms", "send_bulk"} <= set(methods)
    items = [(item.type, item.payload.json) for e in transport.envelopes for item in e.items]
    errors = [payload for kind, payload in items if kind == "event" and payload.get("exception")]
    # an error for each method, captured by the Flask integration with frames and request
    called = {event["request"]["url"].rsplit("/", 1)[-1] for event in errors}
    assert called == set(methods), called
    for event in errors:
        frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
        assert any(frame.get("function") == "call" and frame.get("vars") for frame in frames)
        assert "/call/" in event["request"]["url"] and event["request"]["query_string"]
    assert sum(kind == "transaction" for kind, _ in items) == len(methods) + 1  # + webhook
    text = transport.text()
    assert "/SMS/" in text  # the V1 calls' breadcrumbs and spans were recorded
    for secret in (twofactor_emulator.api_key, SECRET_KEY, OTP, WEBHOOK_TOKEN):
        assert secret not in text
        assert quote(secret, safe="") not in text


def test_without_the_scrubber_they_reach_sentry(twofactor_emulator: Emulator) -> None:
    with without_twofactor_scrubber():
        _, transport = _exercise(twofactor_emulator, "503")
    text = transport.text()
    # the V1 URL, in a breadcrumb, as putrequest had it: the key is placed below that
    assert f"/API/V1/{API_KEY_PLACEHOLDER}/" in text
    assert twofactor_emulator.api_key not in text
    assert WEBHOOK_TOKEN in text  # the query string and the header
    assert OTP in text  # the view's variables


def test_the_extension_keeps_no_key_in_sentrys_spans(twofactor_emulator: Emulator) -> None:
    """After every sending method has gone through under Sentry's Flask and stdlib
    integrations, nothing reachable from the app's extension state (its transport, client,
    session, pooled connections and the span Sentry left on each) holds a key."""
    twofactor = TwoFactor()
    with capture_sentry(integrations=[FlaskIntegration()]):
        app = create_app(twofactor, twofactor_emulator)
        client = app.test_client()
        for name in _sending_methods():
            answer = client.post(f"/call/{name}")
            assert answer.status_code == 500  # ViewFailed: the call itself went through
        state = app.extensions["twofactor"]
        secrets = {"API key": twofactor_emulator.api_key, "Secret-Key": SECRET_KEY}
        findings, _types = find_secrets_in_object(state, secrets, opaque=(Flask, Config))
        shown, _types = find_secrets_in_object(
            state, {"placeholder": API_KEY_PLACEHOLDER}, opaque=(Flask, Config)
        )
    assert not findings, summarise(findings)
    assert any("_sentrysdk_span" in f.path for f in shown), "the walk did not reach a span"
