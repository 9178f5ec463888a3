"""How a delivery report moves the message log on (reports.update_message_log)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from django_twofactor import send_mass_sms, send_sms
from django_twofactor.models import MessageKind, MessageStatus, OutgoingMessage
from django_twofactor.reports import update_message_log
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import DeliveryReport, DeliveryStatus, SMSMessage

from .conftest import PHONE, base_settings, requires_postgresql

pytestmark = pytest.mark.django_db

STAMP = datetime(2025, 11, 24, 14, 13, 8, tzinfo=UTC)


def log(provider_id: str, recipient: str, status: str = MessageStatus.QUEUED) -> OutgoingMessage:
    return OutgoingMessage.objects.create(
        recipient=recipient,
        sender="TFACTR",
        kind=MessageKind.SMS,
        provider_id=provider_id,
        status=status,
    )


def report(message_id: str, to: str, status: str = "DELIVERED") -> DeliveryReport:
    return DeliveryReport(
        message_id=message_id,
        status=DeliveryStatus.parse(status),
        raw_status=status,
        to=to,
        status_at=STAMP,
    )


def status_of(row: OutgoingMessage) -> str:
    row.refresh_from_db()
    return row.status


def test_a_shared_id_moves_only_the_reported_recipient() -> None:
    first, second = log("r1-id", "+919876543210"), log("r1-id", "+919123456780")
    assert update_message_log(report("r1-id", "+919123456780", "UNDELIVERED")) == 1
    assert status_of(first) == MessageStatus.QUEUED
    assert status_of(second) == "UNDELIVERED"
    second.refresh_from_db()
    assert second.status_at == STAMP


def test_the_only_row_of_an_id_moves_even_if_its_number_is_written_differently() -> None:
    # "9876543210" is not E.164: it may be the same number, so the id's only row moves
    row = log("bulk-id-1", "+919876543210")
    assert update_message_log(report("bulk-id-1", "9876543210")) == 1
    assert status_of(row) == MessageStatus.DELIVERED


def test_a_shared_id_and_an_unknown_recipient_move_nothing() -> None:
    first, second = log("r1-id", "+919876543210"), log("r1-id", "+919123456780")
    assert update_message_log(report("r1-id", "+919000000001")) == 0
    assert {status_of(first), status_of(second)} == {MessageStatus.QUEUED}


def test_an_unknown_id_moves_nothing() -> None:
    row = log("known", "+919876543210")
    assert update_message_log(report("unknown", "+919876543210")) == 0
    assert status_of(row) == MessageStatus.QUEUED


def test_a_late_non_final_status_does_not_overwrite_a_final_one() -> None:
    row = log("id-1", "+919876543210", status=MessageStatus.DELIVERED)
    assert update_message_log(report("id-1", "+919876543210", "PENDING")) == 0
    assert status_of(row) == MessageStatus.DELIVERED
    assert update_message_log(report("id-1", "+919876543210", "FAILED")) == 1
    assert status_of(row) == "FAILED"


def test_a_report_without_a_recipient_moves_every_row_of_its_id() -> None:
    first, second = log("r1-id", "+919876543210"), log("r1-id", "+919123456780")
    assert update_message_log(report("r1-id", "")) == 2
    assert {status_of(first), status_of(second)} == {MessageStatus.DELIVERED}


def test_the_only_row_of_an_id_is_not_moved_by_a_report_for_another_e164_number() -> None:
    row = log("otp-session-1", "+919876543210")
    assert update_message_log(report("otp-session-1", "+919812345678", "FAILED")) == 0
    assert status_of(row) == MessageStatus.QUEUED


def test_a_bulk_item_refused_by_the_checks_leaves_no_log_row() -> None:
    # refused before anything was sent: not a delivery failure, so not in the message log
    raw_number, long_sender = "+91 98123 45678 (office phone)", "SENDERID-TOO-LONG-X"
    result = send_mass_sms([(PHONE, "hello"), (raw_number, "hello", long_sender)])
    assert result.total == 2
    assert [r.index for r in result.rejected] == [1]
    rows = list(OutgoingMessage.objects.order_by("id"))
    assert [(row.recipient, row.status) for row in rows] == [(PHONE, "queued")]


@requires_postgresql()
@pytest.mark.django_db(transaction=True)
def test_a_bulk_send_inside_a_transaction_never_breaks_it() -> None:
    raw_number = "+91 98123 45678 (office phone)"  # longer than the recipient column
    with transaction.atomic():  # e.g. ATOMIC_REQUESTS
        send_mass_sms([(PHONE, "hello"), (raw_number, "hello", "SENDERID-TOO-LONG-X")])
        assert User.objects.count() == 0  # the transaction is still usable
        User.objects.create_user(username="after-the-send")
    assert User.objects.filter(username="after-the-send").exists()
    assert OutgoingMessage.objects.count() == 1  # the refused item has no row


class EmptiesTheText:
    """A before_send plugin that leaves a message the checks refuse."""

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> Any:
        if isinstance(message, SMSMessage):
            return dataclasses.replace(message, text="")
        return None


@pytest.mark.parametrize("backend", ["locmem", "dummy", "console"])
def test_a_message_refused_by_the_checks_is_not_logged_as_sent(settings: Any, backend: str) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(BACKEND=backend)
    with pytest.raises(InvalidInputError) as refused:
        send_sms(PHONE, "")  # refused before any hook: no row at all
    assert refused.value.field == "text"
    assert not OutgoingMessage.objects.exists()

    settings.TWOFACTOR_NOTIFY = base_settings(
        BACKEND=backend, PLUGINS=["tests.django.test_message_log.EmptiesTheText"]
    )
    with pytest.raises(InvalidInputError):
        send_sms(PHONE, "hello")  # a plugin made it invalid: a row that says "refused"
    assert [(r.recipient, r.status, r.provider_id) for r in OutgoingMessage.objects.all()] == [
        (PHONE, MessageStatus.REFUSED, "")
    ]


def _columns_added_to_existing_tables() -> list[tuple[str, str]]:
    """Every field a later migration of the app adds to a model an earlier one created."""
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import AddField, CreateModel

    loader = MigrationLoader(None, ignore_no_migrations=True)
    created: set[str] = set()
    added = []
    for key in loader.graph.forwards_plan(loader.graph.leaf_nodes("django_twofactor")[0]):
        if key[0] != "django_twofactor":
            continue
        for op in loader.disk_migrations[key].operations:
            if isinstance(op, CreateModel):
                created.add(op.name.lower())
            elif isinstance(op, AddField) and op.model_name.lower() in created:
                added.append((key[1], f"{op.model_name.lower()}.{op.name}"))
    return added


def test_the_app_has_added_columns_to_check() -> None:
    assert ("0003_queued_messages", "outgoingmessage.queue_key") in (
        _columns_added_to_existing_tables()
    )


@pytest.mark.parametrize(("migration", "column"), _columns_added_to_existing_tables())
def test_a_column_added_later_lets_rows_written_without_it_in(migration: str, column: str) -> None:
    """Code from before the column (a rolling deploy) and raw INSERTs still write rows."""
    from django.apps import apps
    from django.db.models import NOT_PROVIDED

    # A later migration may alter the field: judge it as the model has it now.
    model_name, name = column.split(".")
    current = apps.get_model("django_twofactor", model_name)._meta.get_field(name)
    assert current.null or current.db_default is not NOT_PROVIDED, (
        f"{column} (added in {migration}) is NOT NULL without a database default"
    )


def test_a_log_row_inserted_without_queue_key_gets_the_empty_key() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_twofactor_outgoingmessage (recipient, sender, kind, template, "
            "provider_id, status, error, text, status_at, created_at, updated_at) "
            "VALUES (%s, 'TFACTR', 'sms', '', 'raw-1', 'queued', '', '', NULL, %s, %s)",
            [PHONE, STAMP, STAMP],
        )
    assert OutgoingMessage.objects.get(provider_id="raw-1").queue_key == ""
