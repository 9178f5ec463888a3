"""Storing received reports (once each) and moving the message log on from them.

A report's hand-over is two steps: :func:`store_delivery_report` writes the report row
(marked ``handed_over = False``, its lease held for :data:`HAND_OVER_LEASE` seconds) and
moves the message log on, in one transaction; the webhook then calls every plugin and
receiver and :func:`mark_handed_over` sets the mark. A retry of a report whose row exists
unmarked (the process died, or the database failed, in between) takes the hand-over over
with :func:`claim_hand_over` once the lease has run out; a marked one is a duplicate.

Times: reports carry aware datetimes (2Factor's IST). With ``USE_TZ = False`` they are
stored as naive datetimes in ``TIME_ZONE``, as Django stores every time in that mode; the
message log also keeps the real instant (``status_order``), which reports out of order are
compared by.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from twofactor_notify import models as core
from twofactor_notify.redaction import library_logger

from .models import FINAL_STATUSES, ClickReport, DeliveryReport, OutgoingMessage, dedupe_hash

__all__ = [
    "HAND_OVER_LEASE",
    "claim_hand_over",
    "mark_handed_over",
    "release_hand_over",
    "store_click_report",
    "store_delivery_report",
    "update_message_log",
]

logger = library_logger("django_twofactor.reports")

#: Seconds a webhook request holds a report's hand-over: a concurrent copy of the report
#: is answered 503 meanwhile (2Factor retries it later); once the lease has run out, a
#: copy finishes a hand-over that was cut short (the process died).
HAND_OVER_LEASE = 60.0


def _local(value: datetime | None) -> datetime | None:
    """``value`` as the database layer expects it: aware with ``USE_TZ``, else naive in
    ``TIME_ZONE`` (SQLite refuses aware datetimes then; PostgreSQL would read them back
    shifted)."""
    if value is None or settings.USE_TZ or timezone.is_naive(value):
        return value
    return timezone.make_naive(value, timezone.get_default_timezone())


def store_delivery_report(report: core.DeliveryReport) -> tuple[DeliveryReport, bool]:
    """Store ``report`` unless it was stored before; returns ``(row, created)``.

    The report row (``handed_over = False``) and the message-log update are one unit: on
    PostgreSQL one statement (the INSERT and, only if it inserted, the log UPDATE, in a
    data-modifying ``WITH``), elsewhere one transaction. Either both are stored or
    neither. The unique ``dedupe_key`` decides what is new, also under concurrency: a
    report stored before, or by a concurrent request, is read back (``created`` false,
    the log untouched, so a retried duplicate never reverts a newer status); its
    ``handed_over`` says whether its hand-over finished. Reports arriving out of order are
    kept in order by the log UPDATE itself (it never goes back past a later
    ``status_at``). Inside a caller's transaction this runs in a savepoint, so a duplicate
    never breaks that transaction. Database errors are raised to the caller.
    """
    key = dedupe_hash(report.dedupe_key)
    row = DeliveryReport(
        dedupe_key=key,
        message_id=report.message_id,
        recipient=report.to,
        sender=report.sender,
        status=report.status.value,
        raw_status=report.raw_status,
        sent_at=_local(report.sent_at),
        status_at=_local(report.status_at),
        callback_value1=report.callback_value1 or "",
        callback_value2=report.callback_value2 or "",
        handed_over=False,
        lease_until=time.time() + HAND_OVER_LEASE,
        received_at=timezone.now(),
    )
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:  # a savepoint: a failure leaves the caller's usable
            with transaction.atomic():
                created = _store_postgresql(row, report)
        else:
            created = _store_postgresql(row, report)
    else:
        created = _store_portably(row, report)
    if created:
        return row, True
    existing = DeliveryReport.objects.filter(dedupe_key=key).first()
    if existing is None:  # inserted by a transaction that rolled back since: try again
        raise IntegrityError("the report's row vanished while it was being stored")
    return existing, False


def _store_portably(row: DeliveryReport, report: core.DeliveryReport) -> bool:
    """INSERT then UPDATE in one transaction (a savepoint inside a caller's)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            if DeliveryReport.objects.filter(dedupe_key=row.dedupe_key).exists():
                return False
            raise
        update_message_log(report)
    return True


def _store_postgresql(row: DeliveryReport, report: core.DeliveryReport) -> bool:
    """One statement: INSERT … ON CONFLICT DO NOTHING, and the log UPDATE if it inserted."""
    insert_sql, insert_params = _insert_sql_and_params(row)
    update_sql, update_params = _update_sql_and_params(report)
    # the UPDATE joins the INSERT's result: nothing inserted (a duplicate), nothing updated
    # names come from the models' meta; every value is a parameter
    sql = f"WITH ins AS ({insert_sql}), upd AS ({update_sql} AND EXISTS (SELECT 1 FROM ins)) "  # noqa: S608
    sql += "SELECT id FROM ins"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*insert_params, *update_params])
        found = cursor.fetchone()
    if found is None:
        return False
    row.pk = found[0]
    row._state.adding = False
    row._state.db = connection.alias
    return True


_INSERT_FIELDS = (
    "dedupe_key",
    "message_id",
    "recipient",
    "sender",
    "status",
    "raw_status",
    "sent_at",
    "status_at",
    "callback_value1",
    "callback_value2",
    "handed_over",
    "lease_until",
    "received_at",
)


@functools.lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(_concrete_report(name).column or name) for name in _INSERT_FIELDS)
    marks = ", ".join(["%s"] * len(_INSERT_FIELDS))
    table = q(DeliveryReport._meta.db_table)
    key = q(_concrete_report("dedupe_key").column or "dedupe_key")
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - names from meta
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {q('id')}"
    )


def _insert_sql_and_params(row: DeliveryReport) -> tuple[str, list[Any]]:
    params = [
        _concrete_report(name).get_db_prep_save(getattr(row, name), connection)
        for name in _INSERT_FIELDS
    ]
    return _insert_sql(connection.vendor), params


def _concrete_report(name: str) -> Field[Any, Any]:
    field = DeliveryReport._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def claim_hand_over(row: DeliveryReport | ClickReport) -> bool:
    """Take over the unfinished hand-over of a stored report: ``True`` when this request now
    holds it (no other holds a live lease and it is not marked), ``False`` otherwise.

    One UPDATE, so of concurrent copies exactly one wins, on every database.
    """
    now = time.time()
    claimed = (
        type(row)
        ._default_manager.filter(pk=row.pk, handed_over=False, lease_until__lt=now)
        .update(lease_until=now + HAND_OVER_LEASE)
    )
    return claimed == 1


def release_hand_over(row: DeliveryReport | ClickReport) -> None:
    """Give up the hand-over of ``row`` (it failed): the next copy may take it at once."""
    type(row)._default_manager.filter(pk=row.pk, handed_over=False).update(lease_until=0.0)


def mark_handed_over(row: DeliveryReport | ClickReport) -> None:
    """Record that every plugin and receiver was called for ``row``'s report.

    On PostgreSQL the mark is committed without waiting for the disk
    (``synchronous_commit = off`` for its own transaction only): the report and its log
    update were committed durably before; a mark lost in a database crash costs at most
    one more announcement, should 2Factor retry the report. This halves the disk flushes
    per report.
    """
    model = type(row)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        q = connection.ops.quote_name
        table, pk = q(model._meta.db_table), q(model._meta.pk.column or "id")
        relaxed = "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) "
        # names come from the model's meta; the value is a parameter
        sql = f"{relaxed}UPDATE {table} SET handed_over = true WHERE {pk} = %s"  # noqa: S608
        sql += " AND EXISTS (SELECT 1 FROM relaxed)"
        with connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    else:
        model._default_manager.filter(pk=row.pk).update(handed_over=True)
    row.handed_over = True


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
    sql, params = _update_sql_and_params(report)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def apply_stored_reports(provider_ids: list[str]) -> int:
    """Apply the delivery reports already stored for ``provider_ids`` to their log rows.

    2Factor may post a report before the send that caused it has written its log rows (the
    answer to the send and the report race). Such a report is stored, but its log update
    finds no row; the log plugin calls this right after writing the rows, so they take the
    report's status all the same. The update's own rules (final status wins, a later
    instant wins) make the order the reports are applied in irrelevant.
    """
    ids = sorted({pid for pid in provider_ids if pid})
    if not ids:
        return 0
    changed = 0
    default_zone = timezone.get_default_timezone()
    for row in DeliveryReport.objects.filter(message_id__in=ids).order_by("pk"):
        try:
            status = core.DeliveryStatus(row.status)
        except ValueError:
            continue  # a status this version does not know: left to the report itself
        status_at = row.status_at
        if status_at is not None and timezone.is_naive(status_at):
            status_at = timezone.make_aware(status_at, default_zone)
        report = core.DeliveryReport(
            message_id=row.message_id, status=status, to=row.recipient, status_at=status_at
        )
        changed += update_message_log(report)
    return changed


def _instant(value: datetime) -> int:
    """Microseconds since 1970 (UTC) of an aware datetime: an order no time zone can fold."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _update_sql_and_params(report: core.DeliveryReport) -> tuple[str, list[Any]]:
    now = timezone.now()
    status_at = _db_time("status_at", _local(report.status_at) or now)
    order = _instant(report.status_at or datetime.now(UTC))
    params: list[Any] = [
        report.status.value,
        status_at,
        order,
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
        params += [status_at, order]
    return _update_sql(connection.vendor, match, report.status.final, ordered), params


_LOG_COLUMNS = ("provider_id", "recipient", "status", "status_at", "status_order", "updated_at")
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
        # by the real instant (status_order); a row logged before it existed, by status_at
        where += (
            f" AND (({col['status_order']} IS NULL"
            f" AND ({col['status_at']} IS NULL OR {col['status_at']} <= %s))"
            f" OR {col['status_order']} <= %s)"
        )
    # Identifiers come from the model's meta; every value is a bound parameter.
    assignments = (
        f"{col['status']} = %s, {col['status_at']} = %s, {col['status_order']} = %s, "
        f"{col['updated_at']} = %s"
    )
    return f"UPDATE {table} SET {assignments} WHERE {where}"  # noqa: S608


def _concrete(name: str) -> Field[Any, Any]:
    field = OutgoingMessage._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _db_time(name: str, value: datetime) -> Any:
    return _concrete(name).get_db_prep_save(value, connection)


def store_click_report(click: core.ClickReport) -> tuple[ClickReport, bool]:
    """Store ``click`` unless it was stored before; returns ``(row, created)``.

    A new row starts with ``handed_over = False``, like a delivery report's.
    """
    key = dedupe_hash("click:" + click.dedupe_key)
    defaults = {
        "phone": click.phone,
        "campaign_name": click.campaign_name,
        "accessed_at": _local(click.accessed_at),
        "ip": click.ip,
        "handed_over": False,
        "lease_until": time.time() + HAND_OVER_LEASE,
    }
    try:
        with transaction.atomic():
            return ClickReport.objects.get_or_create(dedupe_key=key, defaults=defaults)
    except IntegrityError:
        return ClickReport.objects.get(dedupe_key=key), False
