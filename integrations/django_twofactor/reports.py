"""Storing received reports (once each) and moving the message log on from them."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from twofactor_notify import models as core

from .models import FINAL_STATUSES, ClickReport, DeliveryReport, OutgoingMessage, dedupe_hash

__all__ = [
    "StoredReports",
    "store_click_report",
    "store_delivery_report",
    "store_delivery_reports",
    "update_message_log",
]

logger = logging.getLogger("django_twofactor.reports")

#: Errors that mean "this report's values cannot be stored" (retrying will not help): the
#: database refused a value (``DataError``: NUL byte, out of range…; ``IntegrityError``
#: from a constraint other than the dedupe key) or converting it for the database failed
#: (``OverflowError``/``ValueError``: a datetime out of range…).
BAD_DATA_ERRORS: tuple[type[Exception], ...] = (
    DataError,
    IntegrityError,
    OverflowError,
    ValueError,
)


@dataclass
class StoredReports:
    """What :func:`store_delivery_reports` did with a batch of reports."""

    #: ``(report, row)`` for each report stored now (new)
    fresh: list[tuple[core.DeliveryReport, DeliveryReport]] = field(default_factory=list)
    #: reports stored before (not stored again; the log was not touched)
    duplicates: int = 0
    #: reports whose values the database cannot store (retrying will not help)
    refused: int = 0
    #: reports lost to another database error (the database may be down: worth a retry)
    failed: int = 0


def store_delivery_reports(reports: list[core.DeliveryReport]) -> StoredReports:
    """Store each report on its own: one that fails loses no other.

    A failure is logged by exception type only (never a value from the report) and counted
    in :attr:`StoredReports.refused` (bad values) or :attr:`StoredReports.failed`.
    """
    result = StoredReports()
    for report in reports:
        try:
            row, created = store_delivery_report(report)
        except BAD_DATA_ERRORS as exc:
            logger.warning("delivery report refused by the database (%s)", type(exc).__name__)
            result.refused += 1
            continue
        except DatabaseError as exc:
            logger.error("delivery report could not be stored (%s)", type(exc).__name__)
            result.failed += 1
            continue
        if created:
            result.fresh.append((report, row))
        else:
            result.duplicates += 1
    return result


def store_delivery_report(report: core.DeliveryReport) -> tuple[DeliveryReport, bool]:
    """Store ``report`` unless it was stored before; returns ``(row, created)``.

    The report row is INSERTed first: the unique ``dedupe_key`` decides what is new, also
    under concurrency (an INSERT of a report stored before, or by a concurrent request,
    hits the constraint and the stored row is read back). Only a report that was new moves
    the message log on (:func:`update_message_log`), so a retried duplicate of an older
    report never reverts a newer status; reports arriving out of order are kept in order by
    the log UPDATE itself (it never goes back past a later ``status_at``).

    The two statements run each in autocommit, without a transaction around the pair (it
    would cost about a tenth of the webhook's throughput). If the process dies between them,
    the report is stored and its log row keeps its previous status: the report table is the
    record; the log is a summary of it. Inside a caller's transaction each statement runs in
    a savepoint, so a duplicate or a value the database refuses never breaks that
    transaction. Errors other than a duplicate (``DataError``, a datetime out of range…)
    are raised to the caller.
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
    in_transaction = connection.in_atomic_block
    try:
        if in_transaction:
            with transaction.atomic():
                row.save(force_insert=True)
        else:
            row.save(force_insert=True)
    except IntegrityError:
        # Stored before, or by a concurrent request that won the race: the log is not touched.
        try:
            return DeliveryReport.objects.get(dedupe_key=key), False
        except DeliveryReport.DoesNotExist:
            raise IntegrityError("a constraint other than the dedupe key refused it") from None
    if in_transaction:
        with transaction.atomic():
            update_message_log(report)
    else:
        update_message_log(report)
    return row, True


def update_message_log(report: core.DeliveryReport) -> int:
    """Set the status of the log rows ``report`` is about; returns how many changed.

    Rows match by 2Factor id and recipient (an R1 send to several numbers shares one id).
    Only when the report's recipient is not in E.164 form (so it may be the same number
    written differently) and the id has exactly one row, that row is the one; a report for
    a different E.164 number never moves another number's row. A non-final status
    (``SENT``, ``PENDING``…) never overwrites a final one that arrived first, and a report
    with a ``status_at`` older than the row's never overwrites it (reports out of order).

    This runs on every delivery report, so it is one SQL statement written out rather than
    ORM lookups (building those cost more than the database did). The inner count sits in a
    derived table so that MySQL accepts it as well as SQLite and PostgreSQL.
    """
    now = timezone.now()
    status_at = _db_time("status_at", report.status_at or now)
    params: list[Any] = [
        report.status.value,
        status_at,
        _db_time("updated_at", now),
        report.message_id,
    ]
    match = _recipient_match(report.to)
    if match == _EXACT:
        params.append(report.to)
    elif match == _LOOSE:
        params += [report.to, report.message_id]  # in placeholder order
    if not report.status.final:
        params += _FINAL_VALUES
    ordered = report.status_at is not None
    if ordered:
        params.append(status_at)
    sql = _update_sql(connection.vendor, match, report.status.final, ordered)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


_LOG_COLUMNS = ("provider_id", "recipient", "status", "status_at", "updated_at")
_FINAL_VALUES = [str(s) for s in FINAL_STATUSES]
_ANY, _EXACT, _LOOSE = "any", "exact", "loose"


def _recipient_match(to: str) -> str:
    """How a report's recipient selects log rows: all of the id's, the same number only, or
    the same number / the id's only row (recipient not in E.164 form)."""
    if not to:
        return _ANY
    return _EXACT if to.startswith("+") else _LOOSE


@functools.lru_cache(maxsize=32)
def _update_sql(vendor: str, match: str, final: bool, ordered: bool) -> str:
    """The UPDATE statement for one shape of report, built once per database vendor."""
    q = connection.ops.quote_name
    col = {name: q(_concrete(name).get_attname_column()[1] or name) for name in _LOG_COLUMNS}
    table = q(OutgoingMessage._meta.db_table)
    where = f"{col['provider_id']} = %s"
    if match == _EXACT:
        where += f" AND {col['recipient']} = %s"
    elif match == _LOOSE:
        only_row = f"SELECT 1 FROM {table} WHERE {col['provider_id']} = %s LIMIT 2"  # noqa: S608
        only_one = f"(SELECT COUNT(*) FROM ({only_row}) one_row) = 1"  # noqa: S608
        where += f" AND ({col['recipient']} = %s OR {only_one})"
    if not final:
        where += f" AND {col['status']} NOT IN ({', '.join(['%s'] * len(_FINAL_VALUES))})"
    if ordered:
        where += f" AND ({col['status_at']} IS NULL OR {col['status_at']} <= %s)"
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
