"""``manage.py twofactor_purge [--days N] [--dry-run]``: delete old log and report rows.

Queued messages (the database send ledger) go too once final (``sent``, ``failed``) and
unchanged for that long; those still waiting or of unknown outcome stay until a human has
decided. A purged key is forgotten: queued again later, it would be sent again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from ...conf import get_settings
from ...models import ClickReport, DeliveryReport, OutgoingMessage, QueuedMessage, QueuedState


class Command(BaseCommand):
    """Delete message-log rows and reports older than the retention period."""

    help = (
        "Delete outgoing-message log rows, delivery reports, click reports and final queued "
        "messages older than --days (default: TWOFACTOR_NOTIFY['LOG_RETENTION_DAYS'])."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--days and --dry-run."""
        parser.add_argument("--days", type=int, help="keep this many days (overrides the setting)")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go, delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Delete (or count) and print one line per table."""
        days = options["days"]
        if days is None:
            days = get_settings().log_retention_days
        if days is None:
            raise CommandError("LOG_RETENTION_DAYS is None (keep forever); pass --days N")
        if days < 0:
            raise CommandError("--days must be 0 or more")
        cutoff = timezone.now() - timedelta(days=days)
        tables = (
            (OutgoingMessage, OutgoingMessage.objects.filter(created_at__lt=cutoff)),
            (DeliveryReport, DeliveryReport.objects.filter(received_at__lt=cutoff)),
            (ClickReport, ClickReport.objects.filter(received_at__lt=cutoff)),
            (
                QueuedMessage,
                QueuedMessage.objects.filter(
                    updated_at__lt=cutoff, state__in=[QueuedState.SENT, QueuedState.FAILED]
                ),
            ),
        )
        verb = "Would delete" if options["dry_run"] else "Deleted"
        with transaction.atomic():
            for model, rows in tables:
                count = rows.count() if options["dry_run"] else rows.delete()[0]
                self.stdout.write(
                    f"{verb} {count} {model._meta.verbose_name_plural} older than {days} days."
                )
