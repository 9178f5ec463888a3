"""Every webhook URL of the app answers with and without its slash, and no page or log line
of a webhook request shows the token, with ``DEBUG`` on.

The webhook routes are found in the URL configuration, not listed: every CSRF-exempt view
the ``django_twofactor`` URLs route (2Factor cannot send a CSRF token, so a webhook is one).
Each is posted to in both spellings (``delivery/`` and ``delivery``), with the token in the
query and in the header: once with a valid report, once with a body whose reading breaks (an
error inside the view, answered by Django's technical 500 page under ``DEBUG``). Without the
second spelling routed, ``CommonMiddleware`` (``APPEND_SLASH``) answers a POST with an error
that quotes the URL and its ``?token=``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import django.conf
import pytest
from django.core.signals import got_request_exception
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests.secret_scan import find_secrets, find_secrets_in_text, summarise
from tests.webhook_faults import BrokenInput, logged_text
from twofactor_notify.webhooks import TOKEN_HEADER

from .conftest import WEBHOOK_TOKEN, base_settings

pytestmark = pytest.mark.django_db

SECRETS = {"webhook token": WEBHOOK_TOKEN}
REPORT = json.dumps({"SessionId": "url-1", "SmsTo": "9876543210", "SmsStatus": "DELIVERED"})


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str, in_app: bool
) -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inside = in_app or pattern.app_name == "django_twofactor"
            yield from _routes(pattern.url_patterns, route, inside)
        elif in_app and getattr(pattern.callback, "csrf_exempt", False):
            yield "/" + route, pattern.callback


def webhook_urls() -> list[tuple[str, str]]:
    """``(view name, URL)`` for each webhook view, in both spellings of each of its routes."""
    found = {
        (view.__name__, spelling)
        for route, view in _routes(get_resolver().url_patterns, "", False)
        for spelling in (route.rstrip("/"), route.rstrip("/") + "/")
    }
    return sorted(found)


def test_the_webhook_routes_are_found() -> None:
    assert {name for name, _ in webhook_urls()} >= {"delivery_webhook", "click_webhook"}


@pytest.fixture
def debug_on(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``DEBUG = True`` and every log record captured, at DEBUG level."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    with override_settings(DEBUG=True, TWOFACTOR_NOTIFY=base_settings()):
        yield caplog


def _post(url: str, in_query: bool, **extra: Any) -> Any:
    client = Client(raise_request_exception=False)
    if in_query:
        url = f"{url}?token={WEBHOOK_TOKEN}"
    else:
        extra["headers"] = {TOKEN_HEADER: WEBHOOK_TOKEN}
    return client.post(url, data=REPORT, content_type="application/json", **extra)


@pytest.mark.parametrize("in_query", [True, False], ids=["query", "header"])
@pytest.mark.parametrize(("view", "url"), webhook_urls())
def test_a_webhook_answers_with_and_without_its_slash(
    view: str, url: str, in_query: bool, debug_on: pytest.LogCaptureFixture
) -> None:
    answer = _post(url, in_query)
    assert answer.status_code == (200 if view == "delivery_webhook" else 400)  # not a click
    shown = find_secrets_in_text(answer.content.decode() + logged_text(debug_on.records), SECRETS)
    assert not shown


@pytest.mark.parametrize("in_query", [True, False], ids=["query", "header"])
@pytest.mark.parametrize(("view", "url"), webhook_urls())
def test_an_error_inside_a_webhook_shows_the_token_nowhere(
    view: str, url: str, in_query: bool, debug_on: pytest.LogCaptureFixture
) -> None:
    findings: list[Any] = []

    def walk(sender: Any, request: Any = None, **kwargs: Any) -> None:
        # what a reporter recording frames' locals (Sentry, Rollbar) gets, from the view's
        # frames up to the test client's (which holds the URL the test typed)
        error = kwargs.get("exception") or __import__("sys").exc_info()[1]
        findings.extend(
            find_secrets(
                error,
                SECRETS,
                stop=Client.request.__code__,
                opaque=(django.conf.LazySettings,),
            )
        )

    got_request_exception.connect(walk)
    try:
        answer = _post(url, in_query, **{"wsgi.input": BrokenInput()})
    finally:
        got_request_exception.disconnect(walk)
    assert answer.status_code == 500
    page = answer.content.decode()
    assert "the input stream broke" in page  # Django's technical 500 page, with DEBUG
    assert not find_secrets_in_text(page, SECRETS)
    assert not find_secrets_in_text(logged_text(debug_on.records), SECRETS)
    assert "Internal Server Error" in debug_on.text  # the error was logged, token-free
    assert not findings, summarise(findings)
