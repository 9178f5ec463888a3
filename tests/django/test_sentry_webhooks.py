"""A webhook request under Sentry's Django integration: the shared token (in ``?token=`` or
in the ``X-Twofactor-Token`` header) reaches Sentry's transaction without the scrubber of
:mod:`twofactor_notify.sentry`, and not with it.

The requests go through Django's real WSGI handler (which Sentry instruments), driven by
Werkzeug's test client; Django's own test client calls the handler below WSGI and Sentry
would record nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from werkzeug.test import Client

from twofactor_notify.sentry import SENTRY_OPTIONS

from ..sentry_capture import capture_sentry
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


@pytest.mark.parametrize("scrubbed", [False, True])
def test_the_webhook_token_reaches_sentry_only_without_the_scrubber(
    scrubbed: bool,
) -> None:
    client = Client(WSGIHandler())
    options: dict[str, Any] = SENTRY_OPTIONS if scrubbed else {}
    with capture_sentry(**options) as transport:
        _post_both_ways(client)
    kinds = [item.type for e in transport.envelopes for item in e.items]
    assert kinds.count("transaction") == 2  # the Django integration recorded both requests
    text = transport.text()
    assert DELIVERY in text
    assert (WEBHOOK_TOKEN in text) is not scrubbed
