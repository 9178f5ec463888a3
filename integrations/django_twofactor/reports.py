"""Storing received reports (once each) and moving the message log on from them."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from twofactor_notify import models as core

from .models import FINAL_STATUSES, ClickReport, DeliveryReport, OutgoingMessage, dedupe_hash

__all__ = ["store_click_report", "store_delivery_report", "update_message_log"]


def store_delivery_report(report: core.DeliveryReport) -> tuple[DeliveryReport, bool]:
    """Store ``report`` unless it was stored before; returns ``(row, created)``.

    Safe under concurrency: the unique ``dedupe_key`` decides, and a concurrent insert of
    the same report is read back instead of raising. A new report also updates the log.
    """
    key = dedupe_hash(report.dedupe_key)
    defaults = {
        "message_id": report.message_id,
        "recipient": report.to,
        "sender": report.sender,
        "status": report.status.value,
        "raw_status": report.raw_status,
        "sent_at": report.sent_at,
        "status_at": report.status_at,
        "callback_value1": report.callback_value1 or "",
        "callback_value2": report.callback_value2 or "",
    }
    try:
        with transaction.atomic():
            row, created = DeliveryReport.objects.get_or_create(dedupe_key=key, defaults=defaults)
            if created:
                update_message_log(report)
    except IntegrityError:
        # Lost a race with a concurrent insert of the same report: it is stored already.
        return DeliveryReport.objects.get(dedupe_key=key), False
    return row, created


def update_message_log(report: core.DeliveryReport) -> int:
    """Set the status of the log rows ``report`` is about; returns how many changed.

    Rows match by 2Factor id and recipient (an R1 send to several numbers shares one id).
    A non-final status (``SENT``, ``PENDING``…) never overwrites a final one that arrived
    first.
    """
    rows = OutgoingMessage.objects.filter(provider_id=report.message_id)
    if report.to and rows.filter(recipient=report.to).exists():
        rows = rows.filter(recipient=report.to)
    elif report.to and rows.count() != 1:
        return 0
    if not report.status.final:
        rows = rows.exclude(status__in=[str(s) for s in FINAL_STATUSES])
    return rows.update(
        status=report.status.value,
        status_at=report.status_at or timezone.now(),
        updated_at=timezone.now(),
    )


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
