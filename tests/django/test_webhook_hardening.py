"""The delivery webhook with values the database refuses, duplicates and reports out of
order, and what a 500 on it shows in Django's error report."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.db import connection
from django.test import Client
from django.views.debug import ExceptionReporter

from django_twofactor import webhooks as webhook_views
from django_twofactor.models import DeliveryReport, MessageKind, OutgoingMessage
from twofactor_notify import models as core
from twofactor_notify import webhooks as core_webhooks
from twofactor_notify.validation import IST

from .conftest import PHONE, WEBHOOK_TOKEN

pytestmark = pytest.mark.django_db

URL = f"/twofactor/delivery/?token={WEBHOOK_TOKEN}"


def core_report(message_id: str, **changes: Any) -> core.DeliveryReport:
    values: dict[str, Any] = {
        "message_id": message_id,
        "status": core.DeliveryStatus.DELIVERED,
        "raw_status": "DELIVERED",
        "to": PHONE,
        "sender": "TFACTR",
        "sent_at": datetime(2025, 1, 1, 10, 0, tzinfo=IST),
        "status_at": datetime(2025, 1, 1, 10, 0, 5, tzinfo=IST),
    }
    values.update(changes)
    return core.DeliveryReport(**values)


def unstorable() -> list[core.DeliveryReport]:
    """Reports a lenient parser could let through: year 1 in IST (converting it to UTC
    overflows on SQLite) and a NUL byte (PostgreSQL text cannot hold it)."""
    return [
        core_report("year-one", status_at=datetime(1, 1, 1, tzinfo=IST)),
        core_report("nul\x00byte"),
    ]


def _post(body: Any) -> Any:
    client = Client(raise_request_exception=False)
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def refused_here() -> list[core.DeliveryReport]:
    """The report of :func:`unstorable` this database refuses."""
    year_one, nul = unstorable()
    return [year_one] if connection.vendor == "sqlite" else [nul]


def test_a_valid_report_the_database_refuses_is_answered_503_never_4xx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The core parser refuses such values; should one get through (a Django project on an
    # older core, a value only its database refuses), the answer must make 2Factor retry
    # (a 4xx would end it: the report would be lost for good).
    monkeypatch.setattr(
        core_webhooks, "parse_delivery_batch", lambda body, ctype: (refused_here(), [])
    )
    answer = _post({})
    assert answer.status_code == 503
    assert answer.json()["failed"] == 1 and answer.json()["stored"] == 0
    assert not DeliveryReport.objects.exists()


def test_a_report_the_database_refuses_loses_no_other_of_its_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = [core_report("good-1"), *unstorable(), core_report("good-2")]
    monkeypatch.setattr(core_webhooks, "parse_delivery_batch", lambda body, ctype: (batch, []))
    answer = _post({})
    assert answer.status_code == 503  # 2Factor retries: the good ones come back as duplicates
    assert answer.json()["stored"] >= 2 and answer.json()["failed"] >= 1
    assert DeliveryReport.objects.filter(message_id__startswith="good-").count() == 2
    assert DeliveryReport.objects.filter(handed_over=False).count() == 0
    monkeypatch.setattr(
        core_webhooks, "parse_delivery_batch", lambda body, ctype: ([core_report("good-1")], [])
    )
    assert _post({}).json() == {"received": 1, "stored": 0, "duplicates": 1}


def test_the_token_is_not_in_the_error_report_of_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug while storing")

    # an exception inside the hand-over is a 503; one around it (here: reading the body) a 500
    monkeypatch.setattr(webhook_views, "_body", bug)
    seen: dict[str, Any] = {}

    def grab(sender: Any, request: Any = None, **kwargs: Any) -> None:
        seen["request"], seen["exc_info"] = request, sys.exc_info()

    got_request_exception.connect(grab)
    try:
        body = {"SessionId": "m-1", "SmsTo": "9876543210", "SmsStatus": "DELIVERED"}
        answer = _post(body)
    finally:
        got_request_exception.disconnect(grab)
    assert answer.status_code == 500
    reporter = ExceptionReporter(seen["request"], *seen["exc_info"], is_email=True)
    text = reporter.get_traceback_text()  # what AdminEmailHandler mails
    html = reporter.get_traceback_html()
    assert "a bug while storing" in text
    assert WEBHOOK_TOKEN not in text
    assert WEBHOOK_TOKEN not in html
    assert WEBHOOK_TOKEN not in repr(seen["request"])


def _log_row() -> OutgoingMessage:
    return OutgoingMessage.objects.create(
        recipient=PHONE, sender="TFACTR", kind=MessageKind.SMS, provider_id="msg-1"
    )


def _json_report(status: str, at: str) -> dict[str, str]:
    return {
        "SessionId": "msg-1",
        "SmsFrom": "TFACTR",
        "SmsTo": "9876543210",
        "SmsStatus": status,
        "SentAt": "2025-01-01 10:00:00",
        "StatusAt": at,
    }


def test_a_retried_duplicate_does_not_revert_a_newer_status() -> None:
    row = _log_row()
    older = _json_report("UNDELIVERED", "2025-01-01 10:00:05")
    newer = _json_report("DELIVERED", "2025-01-01 10:05:00")
    assert _post(older).json()["stored"] == 1
    assert _post(newer).json()["stored"] == 1
    assert _post(older).json()["duplicates"] == 1  # 2Factor retried the first one
    row.refresh_from_db()
    assert row.status == "DELIVERED"
    assert row.status_at == datetime(2025, 1, 1, 10, 5, tzinfo=IST).astimezone(UTC)


def test_an_older_report_arriving_late_does_not_overwrite_a_newer_one() -> None:
    row = _log_row()
    assert _post(_json_report("DELIVERED", "2025-01-01 10:05:00")).json()["stored"] == 1
    late = _post(_json_report("FAILED", "2025-01-01 10:00:05"))
    assert late.json()["stored"] == 1  # stored in the report table, the record
    row.refresh_from_db()
    assert row.status == "DELIVERED"
    assert DeliveryReport.objects.count() == 2
