"""Every webhook URL of the blueprint answers with and without its slash, and no page, log
line or frame of a webhook request shows the token.

The routes are found in the app's URL map, not listed: every POST rule of the extension's
blueprint. Each is posted to in both spellings, with the token in the query and in the
header: once with a valid report, once with a body whose reading breaks (an error inside
the view). The error is seen three ways: the app's log (``PROPAGATE_EXCEPTIONS`` off: Flask
logs it and answers 500), werkzeug's debugger page (what ``flask run --debug`` shows), and
the frames of the raised error walked as a reporter recording locals would.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from flask import Config, Flask, got_request_exception
from werkzeug.debug import DebuggedApplication
from werkzeug.test import run_wsgi_app

from flask_twofactor.blueprint import BLUEPRINT_NAME
from tests.secret_scan import find_secrets, find_secrets_in_text, summarise
from tests.webhook_faults import BrokenInput, logged_text
from twofactor_notify.webhooks import TOKEN_HEADER

from .conftest import PHONE, WEBHOOK_TOKEN, AppFactory

SECRETS = {"webhook token": WEBHOOK_TOKEN}
REPORT = {"SessionId": "url-1", "SmsTo": PHONE, "SmsStatus": "DELIVERED"}


def webhook_urls(app: Flask) -> list[tuple[str, str]]:
    """``(endpoint, URL)`` for each POST rule of the blueprint, in both spellings."""
    return sorted(
        {
            (rule.endpoint, spelling)
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(BLUEPRINT_NAME + ".") and "POST" in (rule.methods or ())
            for spelling in (rule.rule.rstrip("/"), rule.rule.rstrip("/") + "/")
        }
    )


def _post(app: Flask, url: str, in_query: bool, *, errors: io.StringIO | None = None) -> Any:
    """POST a report to ``url``; with ``errors``, a body that breaks while it is read."""
    headers = {} if in_query else {TOKEN_HEADER: WEBHOOK_TOKEN}
    if in_query:
        url = f"{url}?token={WEBHOOK_TOKEN}"
    if errors is None:
        return app.test_client().post(url, json=REPORT, headers=headers)
    return app.test_client().post(
        url,
        content_type="application/json",
        headers=headers,
        environ_overrides={
            "wsgi.input": BrokenInput(),
            "CONTENT_LENGTH": "100",
            "wsgi.errors": errors,
        },
    )


def test_the_webhook_routes_are_found(make_app: AppFactory) -> None:
    endpoints = {endpoint for endpoint, _ in webhook_urls(make_app())}
    assert endpoints >= {"twofactor.delivery", "twofactor.click"}


@pytest.mark.parametrize("in_query", [True, False], ids=["query", "header"])
def test_a_webhook_answers_with_and_without_its_slash(
    make_app: AppFactory, in_query: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(testing=False, TWOFACTOR_BACKEND="memory")
    for endpoint, url in webhook_urls(app):
        answer = _post(app, url, in_query)
        # a click body is not a delivery report: refused (400), never redirected
        assert answer.status_code == (200 if endpoint == "twofactor.delivery" else 400), url
        assert not find_secrets_in_text(answer.get_data(as_text=True), SECRETS)
    assert not find_secrets_in_text(logged_text(caplog.records), SECRETS)


def misspellings(app: Flask) -> list[tuple[str, str]]:
    """``(endpoint, URL)`` for each POST rule of the blueprint with one slash doubled (each
    in turn, the trailing one included), tripled, or its trailing one left out."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(BLUEPRINT_NAME + ".") or "POST" not in (rule.methods or ()):
            continue
        path = rule.rule
        found.add((rule.endpoint, path.rstrip("/")))
        # not the leading slash: "//twofactor/…" is a URL naming the host "twofactor"
        for at in [i for i, char in enumerate(path) if char == "/" and i > 0]:
            found.add((rule.endpoint, path[:at] + "//" + path[at + 1 :]))
            found.add((rule.endpoint, path[:at] + "///" + path[at + 1 :]))
    return sorted(found)


@pytest.mark.parametrize("in_query", [True, False], ids=["query", "header"])
def test_no_spelling_of_a_webhook_url_is_redirected(make_app: AppFactory, in_query: bool) -> None:
    """A redirect's ``Location`` repeats the query string, token and all, and 2Factor would
    not follow it: each spelling is answered where it lands, by the route or with a 404."""
    app = make_app(testing=False, TWOFACTOR_BACKEND="memory")
    assert app.url_map.merge_slashes  # the app's default: it would redirect //delivery/
    spellings = misspellings(app)
    assert len(spellings) >= 8
    for endpoint, url in spellings:
        answer = _post(app, url, in_query)
        assert not 300 <= answer.status_code < 400, (url, answer.status_code)
        assert "Location" not in answer.headers, url
        shown = answer.get_data(as_text=True) + str(answer.headers)
        assert not find_secrets_in_text(shown, SECRETS), url
        by_the_route = 200 if endpoint == "twofactor.delivery" else 400
        if "//" in url:  # the route itself (an extra trailing slash) or nothing
            assert answer.status_code in (by_the_route, 404), (url, answer.status_code)
        else:  # the trailing slash left out: the route itself
            assert answer.status_code == by_the_route, url


@pytest.mark.parametrize("in_query", [True, False], ids=["query", "header"])
@pytest.mark.parametrize("debugger", [False, True], ids=["logged", "debugger"])
def test_an_error_inside_a_webhook_shows_the_token_nowhere(
    make_app: AppFactory, in_query: bool, debugger: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(testing=False, TWOFACTOR_BACKEND="memory", PROPAGATE_EXCEPTIONS=debugger)
    if debugger:  # what `flask run --debug` serves (the console off)
        app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=False)  # type: ignore[method-assign]
    findings: list[Any] = []

    def walk(sender: Flask, exception: BaseException, **kwargs: Any) -> None:
        # frames from the view up to the test client's (which holds the URL the test typed);
        # the app and its config hold the token as the user configured it; the debugger
        # keeps the frames of every error it showed (the test's among them): its page is
        # searched below
        opaque = (Flask, Config, DebuggedApplication)
        findings.extend(find_secrets(exception, SECRETS, stop=run_wsgi_app.__code__, opaque=opaque))

    errors = io.StringIO()
    urls = webhook_urls(app)
    with got_request_exception.connected_to(walk, sender=app):
        for _endpoint, url in urls:
            answer = _post(app, url, in_query, errors=errors)
            assert answer.status_code == 500, url
            page = answer.get_data(as_text=True)
            if debugger:
                assert "the input stream broke" in page
            assert not find_secrets_in_text(page, SECRETS), url
    assert not find_secrets_in_text(errors.getvalue(), SECRETS)
    logged = logged_text(caplog.records)
    assert debugger or logged.count("the input stream broke") >= len(urls)
    assert not find_secrets_in_text(logged, SECRETS)
    assert not findings, summarise(findings)
