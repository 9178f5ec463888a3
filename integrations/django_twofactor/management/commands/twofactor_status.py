"""``manage.py twofactor_status [--limit N] [--phone PHONE] [--unknown]``: recent messages and
their status, and where the messages sent in the background stand.

Statuses of a message sent in the background: ``task_queued`` -> ``sending`` -> ``queued``
(2Factor accepted it) / ``error`` (never sent) / ``unknown`` (it may have gone; a human
decides), then the delivery report's. Before printing, a claim whose worker died (its lease
ran out) is recorded as ``unknown``. ``--unknown`` lists those that wait for a human."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twofactor_notify.errors import InvalidInputError
from twofactor_notify.phone import normalize_phone

from ...conf import get_settings
from ...models import OutgoingMessage


class Command(BaseCommand):
    """Print the newest rows of the message log."""

    help = "Show the delivery status of recent messages."

    def add_arguments(self, parser: CommandParser) -> None:
        """--limit and --phone."""
        parser.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
        parser.add_argument("--phone", help="only messages to this number")
        parser.add_argument(
            "--unknown",
            action="store_true",
            help="list the queued messages whose outcome is unknown, with what is known",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print one line per message, newest first."""
        limit: int = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        queued = self._queued_summary()
        if options["unknown"]:
            self._list_unknown(limit)
            return
        rows = OutgoingMessage.objects.all()
        if options["phone"]:
            try:
                phone = normalize_phone(options["phone"], region=get_settings().region)
            except InvalidInputError as exc:
                raise CommandError(str(exc)) from None
            rows = rows.filter(recipient=phone)
        found = list(rows.order_by("-created_at", "-id")[:limit])
        if queued:
            self.stdout.write(f"Queued in the background: {queued}")
        if not found:
            self.stdout.write("No messages.")
            return
        self.stdout.write(f"{'created (UTC)':20} {'kind':5} {'to':16} {'status':18} 2Factor id")
        for row in found:
            status = row.status + (f" ({row.error})" if row.error else "")
            self.stdout.write(
                f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.kind:5} {row.recipient:16} "
                f"{status:18} {row.provider_id or '-'}"
            )

    def _queued_summary(self) -> str:
        """Record dead workers' claims as unknown; count the ledger's keys by state."""
        from django.db.models import Count

        from ...ledger import DatabaseLedger
        from ...models import QueuedMessage, QueuedState

        if not QueuedMessage.objects.exists():
            return ""
        DatabaseLedger().sweep()
        counts = dict(QueuedMessage.objects.values_list("state").annotate(n=Count("id")).order_by())
        return ", ".join(
            f"{counts[state]} {state}" for state in QueuedState.values if counts.get(state)
        )

    def _list_unknown(self, limit: int) -> None:
        from ...ledger import DatabaseLedger

        records = DatabaseLedger().unknown(limit)
        if not records:
            self.stdout.write("No unknown outcomes.")
            return
        self.stdout.write(
            "Outcome unknown: 2Factor may have received these. Check its delivery reports, "
            "then resolve or send again in the admin."
        )
        for record in records:
            when = f"{record.updated_at:%Y-%m-%d %H:%M:%S}" if record.updated_at else "-"
            self.stdout.write(
                f"{when} {record.key} {record.kind} to {', '.join(record.recipients)} "
                f"attempts={record.attempts} {record.error}"
            )
