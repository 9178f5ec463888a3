"""A webhook request under Sentry's Django integration: the shared token (in ``?token=`` or
in the ``X-Twofactor-Token`` header) reaches Sentry's transaction without the scrubber of
:mod:`twofactor_notify.sentry`, and not with it: whether the application passes
``SENTRY_OPTIONS`` to ``sentry_sdk.init()`` or nothing at all (the app's ``ready()``
installed the scrubber, :func:`twofactor_notify.sentry.install`).

The requests go through Django's real WSGI handler (which Sentry instruments), driven by
Werkzeug's test client; Django's own test client calls the handler below WSGI and Sentry
would record nothing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from werkzeug.test import Client

from twofactor_notify.sentry import SENTRY_OPTIONS

from ..sentry_capture import capture_sentry, without_twofactor_scrubber
from .conftest import WEBHOOK_TOKEN

pytestmark = pytest.mark.django_db

DELIVERY = "/twofactor/delivery/"
REPORT = {
    "SessionId": "msg-0001",
    "SmsFrom": "TFACTR",
    "SmsTo": "9876543210",
    "SmsStatus": "DELIVERED",
    "SentAt": "2025-01-01 10:00:00",
    "StatusAt": "2025-01-01 10:00:05",
}


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """Django's real WSGI handler closes "old" database connections around each request;
    inside a test that holds its data in an open transaction (PostgreSQL) that ends it.
    Django's own test client disconnects the same two receivers for its requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _post_both_ways(client: Client) -> None:
    body = json.dumps(REPORT)
    answers = [
        client.post(
            f"{DELIVERY}?token={WEBHOOK_TOKEN}", data=body, content_type="application/json"
        ),
        client.post(
            DELIVERY,
            data=body,
            content_type="application/json",
            headers={"X-Twofactor-Token": WEBHOOK_TOKEN},
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200]


@pytest.mark.parametrize(
    "setup", ["without the scrubber", "as installed by the app", "SENTRY_OPTIONS"]
)
def test_the_webhook_token_reaches_sentry_only_without_the_scrubber(setup: str) -> None:
    client = Client(WSGIHandler())
    options: dict[str, Any] = SENTRY_OPTIONS if setup == "SENTRY_OPTIONS" else {}
    unscrubbed = setup == "without the scrubber"
    with contextlib.ExitStack() as stack:
        if unscrubbed:
            stack.enter_context(without_twofactor_scrubber())
        transport = stack.enter_context(capture_sentry(**options))
        _post_both_ways(client)
    kinds = [item.type for e in transport.envelopes for item in e.items]
    assert kinds.count("transaction") == 2  # the Django integration recorded both requests
    text = transport.text()
    assert DELIVERY in text
    assert (WEBHOOK_TOKEN in text) is unscrubbed


@pytest.mark.parametrize(
    "apps",
    [["django_twofactor"], ["django_otp", "otp_twofactor"]],
    ids=["django_twofactor", "otp_twofactor"],
)
def test_each_app_installs_the_scrubber_when_django_is_set_up(apps: list[str]) -> None:
    code = (
        "import sys, django\n"
        "from django.conf import settings\n"
        "from sentry_sdk.scope import global_event_processors\n"
        "from twofactor_notify import sentry\n"
        "assert sentry._on_every_event not in global_event_processors\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.contenttypes',"
        f" 'django.contrib.auth', *{apps!r}])\n"
        "django.setup()\n"
        "sys.exit(0 if sentry._on_every_event in global_event_processors else 3)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
