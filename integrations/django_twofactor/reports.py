"""Storing received reports (once each) and moving the message log on from them."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from twofactor_notify import models as core

from .models import FINAL_STATUSES, ClickReport, DeliveryReport, OutgoingMessage, dedupe_hash

__all__ = ["store_click_report", "store_delivery_report", "update_message_log"]


def store_delivery_report(report: core.DeliveryReport) -> tuple[DeliveryReport, bool]:
    """Store ``report`` unless it was stored before; returns ``(row, created)``.

    The message log is moved on first and the report row written last, each in autocommit:
    the log update is idempotent (repeating it for a duplicate, or after a crash between the
    two, changes nothing), so a stored report always means its log update happened, without
    the cost of a transaction around both. The unique ``dedupe_key`` decides what is new, so
    this is safe under concurrency: an INSERT of a report stored before (or concurrently)
    hits the constraint and the stored row is read back. Common case: UPDATE, INSERT.
    """
    key = dedupe_hash(report.dedupe_key)
    row = DeliveryReport(
        dedupe_key=key,
        message_id=report.message_id,
        recipient=report.to,
        sender=report.sender,
        status=report.status.value,
        raw_status=report.raw_status,
        sent_at=report.sent_at,
        status_at=report.status_at,
        callback_value1=report.callback_value1 or "",
        callback_value2=report.callback_value2 or "",
    )
    update_message_log(report)
    try:
        if connection.in_atomic_block:
            # inside the caller's transaction a savepoint keeps a duplicate from breaking it
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
    except IntegrityError:
        # Stored before, or by a concurrent request that won the race.
        return DeliveryReport.objects.get(dedupe_key=key), False
    return row, True


def update_message_log(report: core.DeliveryReport) -> int:
    """Set the status of the log rows ``report`` is about; returns how many changed.

    Rows match by 2Factor id and recipient (an R1 send to several numbers shares one id);
    when the id has exactly one row, that row is the one even if the recipient is written
    differently. A non-final status (``SENT``, ``PENDING``…) never overwrites a final one
    that arrived first.

    This runs on every delivery report, so it is one SQL statement written out rather than
    ORM lookups (building those cost more than the database did). The inner count sits in a
    derived table so that MySQL accepts it as well as SQLite and PostgreSQL.
    """
    now = timezone.now()
    params: list[Any] = [
        report.status.value,
        _db_time("status_at", report.status_at or now),
        _db_time("updated_at", now),
        report.message_id,
    ]
    if report.to:
        params += [report.to, report.message_id]  # in placeholder order
    if not report.status.final:
        params += _FINAL_VALUES
    sql = _update_sql(connection.vendor, bool(report.to), report.status.final)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


_LOG_COLUMNS = ("provider_id", "recipient", "status", "status_at", "updated_at")
_FINAL_VALUES = [str(s) for s in FINAL_STATUSES]


@functools.lru_cache(maxsize=16)
def _update_sql(vendor: str, with_recipient: bool, final: bool) -> str:
    """The UPDATE statement for one shape of report, built once per database vendor."""
    q = connection.ops.quote_name
    col = {name: q(_concrete(name).get_attname_column()[1] or name) for name in _LOG_COLUMNS}
    table = q(OutgoingMessage._meta.db_table)
    where = f"{col['provider_id']} = %s"
    if with_recipient:
        only_row = f"SELECT 1 FROM {table} WHERE {col['provider_id']} = %s LIMIT 2"  # noqa: S608
        only_one = f"(SELECT COUNT(*) FROM ({only_row}) one_row) = 1"  # noqa: S608
        where += f" AND ({col['recipient']} = %s OR {only_one})"
    if not final:
        where += f" AND {col['status']} NOT IN ({', '.join(['%s'] * len(_FINAL_VALUES))})"
    # Identifiers come from the model's meta; every value is a bound parameter.
    assignments = f"{col['status']} = %s, {col['status_at']} = %s, {col['updated_at']} = %s"
    return f"UPDATE {table} SET {assignments} WHERE {where}"  # noqa: S608


def _concrete(name: str) -> Field[Any, Any]:
    field = OutgoingMessage._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _db_time(name: str, value: datetime) -> Any:
    return _concrete(name).get_db_prep_save(value, connection)


def store_click_report(click: core.ClickReport) -> tuple[ClickReport, bool]:
    """Store ``click`` unless it was stored before; returns ``(row, created)``."""
    key = dedupe_hash("click:" + click.dedupe_key)
    defaults = {
        "phone": click.phone,
        "campaign_name": click.campaign_name,
        "accessed_at": click.accessed_at,
        "ip": click.ip,
    }
    try:
        with transaction.atomic():
            return ClickReport.objects.get_or_create(dedupe_key=key, defaults=defaults)
    except IntegrityError:
        return ClickReport.objects.get(dedupe_key=key), False
