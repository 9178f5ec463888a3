"""The same report arriving on several connections at once is stored once (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from django_twofactor.models import DeliveryReport, MessageStatus, OutgoingMessage
from django_twofactor.reports import store_delivery_report
from twofactor_notify.models import DeliveryReport as CoreReport
from twofactor_notify.models import DeliveryStatus

from .conftest import PHONE, requires_postgresql


@requires_postgresql()
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_are_stored_once() -> None:
    OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="race-1")
    report = CoreReport(
        message_id="race-1", status=DeliveryStatus.DELIVERED, to=PHONE, raw_status="DELIVERED"
    )
    workers = 8
    barrier = threading.Barrier(workers)
    created: list[bool] = []
    errors: list[BaseException] = []

    def store() -> None:
        try:
            barrier.wait()
            created.append(store_delivery_report(report)[1])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=store) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(created) == [False] * (workers - 1) + [True]
    assert DeliveryReport.objects.count() == 1
    assert OutgoingMessage.objects.get().status == MessageStatus.DELIVERED
