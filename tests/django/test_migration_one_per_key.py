"""Migration 0009 numbers the message log rows each key already has, so the constraint that
makes one message per key holds on a log written before it: keys with one row or several, a
key that two racing transactions left with two messages, bulk batch keys (``k:0``), and rows
without a key (which get no position and are never compared)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

APP = "django_twofactor"
BEFORE = (APP, "0008_unreadable_state")
AFTER = (APP, "0009_one_message_per_queue_key")


def _migrate(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return MigrationExecutor(connection)


def test_existing_rows_are_numbered_per_key_and_the_key_then_holds_one_message() -> None:
    try:
        old = _migrate(BEFORE).loader.project_state([BEFORE]).apps
        rows = old.get_model(APP, "OutgoingMessage").objects
        written = [
            ("order-1", "+919876543210"),  # one message, two numbers
            ("", "+919800000001"),  # a synchronous send
            ("order-1", "+919812345678"),
            ("raced", "+919876543210"),  # two messages left under one key by a race
            ("raced", "+919812345678"),
            ("camp:0", "+919876543210"),  # a bulk batch
            ("", "+919800000002"),
        ]
        for key, recipient in written:
            rows.create(queue_key=key, recipient=recipient, kind="sms")
        new = _migrate(AFTER).loader.project_state([AFTER]).apps
        model = new.get_model(APP, "OutgoingMessage")
        found = list(model.objects.order_by("id").values_list("queue_key", "queue_seq"))
        assert found == [
            ("order-1", 0),
            ("", None),
            ("order-1", 1),
            ("raced", 0),
            ("raced", 1),
            ("camp:0", 0),
            ("", None),
        ]
        model.objects.create(queue_key="", recipient="+919800000003", kind="sms")
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(
                queue_key="camp:0", queue_seq=0, recipient="+919812345678", kind="sms"
            )
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(APP)[0])
