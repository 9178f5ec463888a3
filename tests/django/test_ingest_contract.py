"""The ingest contract of the Django webhooks, on SQLite and PostgreSQL, USE_TZ on and off.

After the token check a valid report is fully handed over (stored with its log update,
every plugin and receiver called, each on its own) and answered 2xx, or answered 5xx so
that 2Factor retries; never 4xx. A retry finishes a hand-over that was cut short.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from django_twofactor import send_mass_sms
from django_twofactor.models import ClickReport, DeliveryReport, MessageStatus, OutgoingMessage
from django_twofactor.signals import click_received, delivery_report_received
from twofactor_notify import hookimpl
from twofactor_notify.webhooks import TOKEN_HEADER

from .conftest import PHONE, WEBHOOK_TOKEN, base_settings

pytestmark = pytest.mark.django_db

DELIVERY = "/twofactor/delivery/"
CLICK = "/twofactor/click/"
IST = ZoneInfo("Asia/Kolkata")


def report(**changes: str) -> dict[str, str]:
    data = {
        "SessionId": "msg-0001",
        "SmsFrom": "TFACTR",
        "SmsTo": "9876543210",
        "SmsStatus": "DELIVERED",
        "SentAt": "2025-03-14 10:21:07",
        "StatusAt": "2025-03-14 10:21:11",
    }
    data.update(changes)
    return data


def post(body: Any, url: str = DELIVERY) -> Any:
    client = Client(raise_request_exception=False)
    return client.post(
        url,
        data=json.dumps(body),
        content_type="application/json",
        headers={TOKEN_HEADER: WEBHOOK_TOKEN},
    )


class Calls:
    """Records every plugin and receiver call; the first of each kind raises."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def first_receiver(self, sender: Any, **kwargs: Any) -> None:
        self.log.append("receiver-1")
        raise ValueError(f"receiver broke on {kwargs['record']}")

    def second_receiver(self, sender: Any, **kwargs: Any) -> None:
        self.log.append("receiver-2")


calls = Calls()


class FirstPlugin:
    @hookimpl(tryfirst=True)
    def on_delivery(self, report: Any, transport: Any) -> None:
        calls.log.append("plugin-1")
        raise KeyError(f"plugin broke on {report}")


class SecondPlugin:
    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        calls.log.append("plugin-2")


first_plugin, second_plugin = FirstPlugin(), SecondPlugin()


@pytest.fixture
def hooked(settings: Any) -> Iterator[Calls]:
    settings.TWOFACTOR_NOTIFY = base_settings(
        PLUGINS=[f"{__name__}.first_plugin", f"{__name__}.second_plugin"]
    )
    calls.log.clear()
    for signal in (delivery_report_received, click_received):
        signal.connect(calls.first_receiver)
        signal.connect(calls.second_receiver)
    yield calls
    for signal in (delivery_report_received, click_received):
        signal.disconnect(calls.first_receiver)
        signal.disconnect(calls.second_receiver)


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (DELIVERY, report()),
        (CLICK, {"accessed": "2025-03-14 10:30:00", "phoneNo": "9876543210", "ip": "1.2.3.4"}),
    ],
    ids=["delivery", "click"],
)
def test_a_raising_plugin_or_receiver_stops_no_other_and_logs_its_type_only(
    hooked: Calls, caplog: pytest.LogCaptureFixture, url: str, body: dict[str, str]
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = post(body, url)
    assert answer.status_code == 200
    assert sorted(hooked.log) == ["plugin-1", "plugin-2", "receiver-1", "receiver-2"]
    # as the docs promise: the exception's type, never its message nor a traceback
    assert "ValueError" in caplog.text and "KeyError" in caplog.text
    assert "FirstPlugin" in caplog.text and "first_receiver" in caplog.text
    assert "9876543210" not in caplog.text and "broke" not in caplog.text
    assert all(r.exc_info is None and r.exc_text is None for r in caplog.records)
    model = DeliveryReport if url == DELIVERY else ClickReport
    assert model.objects.get().handed_over
    hooked.log.clear()
    assert post(body, url).status_code == 200  # a duplicate: nothing is called again
    assert hooked.log == []


def _fail_on_update(table: str) -> str:
    """Make every UPDATE of ``table`` fail (a real database error); returns the undo SQL."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TRIGGER tfn_fail BEFORE UPDATE ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'the database is down'); END"
            )
        return "DROP TRIGGER tfn_fail"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION tfn_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the database is down'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER tfn_fail BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tfn_fail()"
        )
    return f"DROP TRIGGER tfn_fail ON {table}; DROP FUNCTION tfn_fail()"


def _undo(sql: str) -> None:
    with connection.cursor() as cursor:
        for statement in sql.split(";"):
            cursor.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_between_report_and_log_stores_neither_and_the_retry_does_all(
    hooked: Calls,
) -> None:
    row = OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-0001")
    undo = _fail_on_update(OutgoingMessage._meta.db_table)
    try:
        answer = post(report())
    finally:
        _undo(undo)
    assert answer.status_code == 503  # 2Factor retries
    assert not DeliveryReport.objects.exists()  # the report row went with the log update
    assert hooked.log == []
    retry = post(report())
    assert retry.status_code == 200 and retry.json()["stored"] == 1
    row.refresh_from_db()
    assert row.status == MessageStatus.DELIVERED
    assert sorted(hooked.log) == ["plugin-1", "plugin-2", "receiver-1", "receiver-2"]


@pytest.mark.django_db(transaction=True)
def test_a_hand_over_cut_short_is_finished_by_the_retry(hooked: Calls) -> None:
    """The worker dies (gunicorn's timeout raises SystemExit) after the report was stored."""

    def dying_receiver(sender: Any, **kwargs: Any) -> None:
        raise SystemExit(1)

    delivery_report_received.connect(dying_receiver)
    try:
        with pytest.raises(SystemExit):
            Client().post(
                DELIVERY,
                data=json.dumps(report()),
                content_type="application/json",
                headers={TOKEN_HEADER: WEBHOOK_TOKEN},
            )
    finally:
        delivery_report_received.disconnect(dying_receiver)
    stored = DeliveryReport.objects.get()
    assert not stored.handed_over
    hooked.log.clear()
    # at once, the holder may still be working: 503, announced by nobody
    early = post(report())
    assert early.status_code == 503 and early.json()["stored"] == 0
    assert hooked.log == []
    # once its lease has run out (the worker is gone), a retry finishes the hand-over
    DeliveryReport.objects.filter(pk=stored.pk).update(lease_until=time.time() - 1)
    retry = post(report())
    assert retry.status_code == 200 and retry.json()["stored"] == 1
    assert sorted(hooked.log) == ["plugin-1", "plugin-2", "receiver-1", "receiver-2"]
    assert DeliveryReport.objects.get().handed_over
    hooked.log.clear()
    assert post(report()).json() == {"received": 1, "stored": 0, "duplicates": 1}
    assert hooked.log == []


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "naive"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_reports_and_clicks_are_stored_with_the_right_times(use_tz: bool, zone: str) -> None:
    with override_settings(USE_TZ=use_tz, TIME_ZONE=zone):
        row = OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-0001")
        answer = post(report())
        assert answer.status_code == 200, answer.content
        click = post(
            {"accessed": "2025-03-14 10:30:00", "phoneNo": "9876543210", "ip": "1.2.3.4"}, CLICK
        )
        assert click.status_code == 200, click.content
        stored = DeliveryReport.objects.get()
        row.refresh_from_db()
        clicked = ClickReport.objects.get()

        def expected(text: str) -> datetime:
            when = datetime.fromisoformat(text).replace(tzinfo=IST)
            return when if use_tz else when.astimezone(ZoneInfo(zone)).replace(tzinfo=None)

        assert stored.sent_at == expected("2025-03-14 10:21:07")
        assert stored.status_at == expected("2025-03-14 10:21:11")
        assert row.status == MessageStatus.DELIVERED
        assert row.status_at == expected("2025-03-14 10:21:11")
        assert clicked.accessed_at == expected("2025-03-14 10:30:00")
        # an older report still never overwrites the newer status (times compare right)
        assert post(report(SmsStatus="FAILED", StatusAt="2025-03-14 10:21:09")).status_code == 200
        row.refresh_from_db()
        assert row.status == MessageStatus.DELIVERED


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "naive"])
@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Asia/Kolkata"])
def test_reports_out_of_order_are_ordered_by_the_real_instant_across_a_dst_change(
    use_tz: bool, zone: str
) -> None:
    # 2025-11-02 11:00 IST is 01:30 EDT; 11:45 IST is 01:15 EST, 45 minutes LATER although
    # its New York wall clock reads earlier (the repeated hour)
    with override_settings(USE_TZ=use_tz, TIME_ZONE=zone):
        row = OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-dst")
        first = report(SessionId="msg-dst", SmsStatus="FAILED", StatusAt="2025-11-02 11:00:00")
        later = report(SessionId="msg-dst", SmsStatus="DELIVERED", StatusAt="2025-11-02 11:45:00")
        assert post(first).status_code == 200
        assert post(later).status_code == 200
        row.refresh_from_db()
        assert row.status == MessageStatus.DELIVERED
        # and the other way round: the earlier instant never overwrites the later one
        row2 = OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-dst2")
        assert post(dict(later, SessionId="msg-dst2")).status_code == 200
        assert post(dict(first, SessionId="msg-dst2")).status_code == 200
        row2.refresh_from_db()
        assert row2.status == MessageStatus.DELIVERED


def test_every_kind_of_send_logs_the_e164_number_and_the_provider_id(settings: Any) -> None:
    from django_twofactor import send_sms
    from django_twofactor.backends import get_backend

    transport = get_backend().transport
    transport.send_otp("98123 45678")
    send_sms("+91 98765-43210", "hello")
    send_mass_sms([("98765 43210", "hello bulk"), ("0091 98123 45678", "hi")])
    rows = list(OutgoingMessage.objects.order_by("id"))
    assert {r.kind for r in rows} == {"otp", "sms", "bulk"}
    for row in rows:
        assert row.recipient.startswith("+91") and row.recipient[1:].isdigit(), row.kind
        assert row.provider_id, row.kind


def test_a_bulk_report_finds_its_row_and_twofactor_status_finds_the_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    send_mass_sms([("98765 43210", "hello bulk")])
    row = OutgoingMessage.objects.get()
    answer = post(report(SessionId=row.provider_id, SmsTo="9876543210"))
    assert answer.status_code == 200
    row.refresh_from_db()
    assert row.status == MessageStatus.DELIVERED
    call_command("twofactor_status", "--phone", "9876543210")
    assert row.provider_id in capsys.readouterr().out


def test_the_migration_rewrites_logged_numbers_in_e164_form() -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("django_twofactor.migrations.0002_report_handover_and_e164_log")
    typed = OutgoingMessage.objects.create(recipient="98765 43210", kind="bulk", provider_id="b-1")
    junk = OutgoingMessage.objects.create(recipient="not a number", kind="bulk", provider_id="")

    class Editor:
        connection = connection

    migration.log_numbers_to_e164(apps, Editor())
    typed.refresh_from_db()
    junk.refresh_from_db()
    assert (typed.recipient, junk.recipient) == (PHONE, "not a number")


HOSTILE_QUERIES = ["token=%ED%A0%80", "token=%FF%FE", "token=%00", "token=" + "%F0" * 300]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_a_query_token_of_any_content_is_403(query: str) -> None:
    answer = Client(raise_request_exception=False).post(
        f"{DELIVERY}?{query}", data=json.dumps(report()), content_type="application/json"
    )
    assert answer.status_code == 403
    assert not DeliveryReport.objects.exists()


@pytest.mark.parametrize("value", ["\udcff\udcfe", "é" * 20, "\x00\x01", " " * 3])
def test_a_header_token_of_any_content_is_403(value: str) -> None:
    client = Client(raise_request_exception=False)
    answer = client.post(
        DELIVERY,
        data=json.dumps(report()),
        content_type="application/json",
        HTTP_X_TWOFACTOR_TOKEN=value,
    )
    assert answer.status_code == 403


@pytest.mark.parametrize("name", ["x-twofactor-token", "X-TWOFACTOR-TOKEN", "X-TwoFactor-Token"])
def test_the_header_is_matched_whatever_its_case(settings: Any, name: str) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(WEBHOOK_QUERY_TOKEN=False)
    client = Client(raise_request_exception=False)
    answer = client.post(
        DELIVERY,
        data=json.dumps(report()),
        content_type="application/json",
        headers={name: WEBHOOK_TOKEN},
    )
    assert answer.status_code == 200


def test_the_query_form_is_off_by_default(settings: Any) -> None:
    data = base_settings()
    del data["WEBHOOK_QUERY_TOKEN"]  # the documented default
    settings.TWOFACTOR_NOTIFY = data
    client = Client(raise_request_exception=False)
    body = json.dumps(report())
    answer = client.post(f"{DELIVERY}?token={WEBHOOK_TOKEN}", body, "application/json")
    assert answer.status_code == 403
    assert not DeliveryReport.objects.exists()
    assert post(report()).status_code == 200  # the header form


@pytest.mark.django_db(transaction=True)
def test_storing_inside_a_callers_transaction_never_breaks_it() -> None:
    from django.contrib.auth.models import User
    from django.db import DatabaseError, transaction

    from django_twofactor.reports import store_delivery_report
    from twofactor_notify import models as core

    good = core.DeliveryReport(
        message_id="m-1", status=core.DeliveryStatus.DELIVERED, to=PHONE, raw_status="DELIVERED"
    )
    bad = core.DeliveryReport(  # a value this database refuses (NUL; year 1 in IST on SQLite)
        message_id="nul\x00byte",
        status=core.DeliveryStatus.DELIVERED,
        to=PHONE,
        raw_status="DELIVERED",
        status_at=datetime(1, 1, 1, tzinfo=IST),
    )
    with transaction.atomic():
        assert store_delivery_report(good)[1] is True
        assert store_delivery_report(good)[1] is False  # a duplicate
        with pytest.raises((DatabaseError, ValueError, OverflowError)):
            store_delivery_report(bad)
        User.objects.create_user(username="after-the-reports")  # still usable
    assert User.objects.filter(username="after-the-reports").exists()
    assert DeliveryReport.objects.count() == 1


def _read_only(on: bool) -> None:
    """Make this connection refuse writes, as a locked or failing database would."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")
        elif on:
            cursor.execute("SET default_transaction_read_only = on")
        else:
            cursor.execute("RESET default_transaction_read_only")


@pytest.mark.django_db(transaction=True)
def test_a_report_whose_mark_cannot_be_written_is_answered_503_and_finished_by_the_retry(
    hooked: Calls,
) -> None:
    def database_fails(sender: Any, **kwargs: Any) -> None:
        _read_only(True)  # the database refuses every write from here on, the mark too

    delivery_report_received.connect(database_fails)
    try:
        answer = post(report())
    finally:
        delivery_report_received.disconnect(database_fails)
        _read_only(False)
    assert answer.status_code == 503  # never 200 for a report that is not marked
    assert not DeliveryReport.objects.get().handed_over
    DeliveryReport.objects.update(lease_until=time.time() - 1)  # the lease runs out
    hooked.log.clear()
    retry = post(report())
    assert retry.status_code == 200 and retry.json()["stored"] == 1
    assert sorted(hooked.log) == ["plugin-1", "plugin-2", "receiver-1", "receiver-2"]
    assert DeliveryReport.objects.get().handed_over
