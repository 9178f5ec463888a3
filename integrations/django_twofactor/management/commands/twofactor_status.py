"""``manage.py twofactor_status [--limit N] [--phone PHONE] [--unknown] [--unreadable]``:
recent messages and their status, and where the messages sent in the background stand.

Statuses of a message sent in the background: ``task_queued`` -> ``sending`` -> ``queued``
(2Factor accepted it) / ``error`` (never sent) / ``unknown`` (it may have gone; a human
decides), then the delivery report's. Before printing, a claim whose worker died (its lease
ran out) is recorded as ``unknown``. ``--unknown`` lists those that wait for a human;
``--unreadable`` the queued messages a worker could not read (a newer envelope version).

The ledger read is the one ``BACKGROUND`` configures (Redis or database), built as the workers
build theirs. Messages in the outbox (not handed to the task queue yet: the broker refused
them as the transaction committed) are listed with their failed hand-overs; so are log rows
still ``task_queued`` after ``--stuck-minutes`` (default 10): their task may have been lost.
``twofactor_requeue`` hands both over again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from twofactor_notify.background import SendLedger
from twofactor_notify.errors import ConfigurationError, InvalidInputError
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
        parser.add_argument(
            "--unreadable",
            action="store_true",
            help="list the queued messages a worker could not read (never sent)",
        )
        parser.add_argument(
            "--stuck-minutes",
            type=float,
            default=10.0,
            help="list log rows still waiting for their task after this long (default 10)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print one line per message, newest first."""
        limit: int = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        stuck_minutes: float = options["stuck_minutes"]
        if not stuck_minutes >= 0:
            raise CommandError("--stuck-minutes must be 0 or more")
        ledger = self._ledger()
        queued = self._queued_summary(ledger)
        if options["unknown"]:
            self._list_unknown(ledger, limit)
            return
        if options["unreadable"]:
            self._list_unreadable(ledger, limit)
            return
        self._list_outbox(limit)
        self._list_stuck(stuck_minutes, limit)
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

    def _ledger(self) -> SendLedger | None:
        """The configured ledger; the database ledger when ``BACKGROUND`` is not set but its
        table has rows; ``None`` when there is nothing to read."""
        from django.conf import settings

        from ...background import get_ledger
        from ...conf import SETTING_NAME
        from ...ledger import DatabaseLedger
        from ...models import QueuedMessage

        if (getattr(settings, SETTING_NAME, None) or {}).get("BACKGROUND") is None:
            return DatabaseLedger() if QueuedMessage.objects.exists() else None
        try:
            return get_ledger()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None

    def _queued_summary(self, ledger: SendLedger | None) -> str:
        """Record dead workers' claims as unknown; count the ledger's keys by state (the
        database ledger), or its unknown outcomes (any other)."""
        from django.db.models import Count

        from ...ledger import DatabaseLedger
        from ...models import QueuedMessage, QueuedState

        if ledger is None:
            return ""
        if not isinstance(ledger, DatabaseLedger):
            found = len(ledger.unknown(10_000))  # sweeps dead claims first
            unreadable = len(ledger.unreadable(10_000))
            parts = [f"{found} unknown"] if found else []
            parts += [f"{unreadable} unreadable"] if unreadable else []
            return f"{', '.join(parts)} (ledger: {ledger!r})" if parts else ""
        ledger.sweep()
        counts = dict(QueuedMessage.objects.values_list("state").annotate(n=Count("id")).order_by())
        return ", ".join(
            f"{counts[state]} {state}" for state in QueuedState.values if counts.get(state)
        )

    def _list_outbox(self, limit: int) -> None:
        """The outbox: messages no task queue has taken yet, oldest first."""
        from ...models import OutboxMessage

        count = OutboxMessage.objects.count()
        if not count:
            return
        self.stdout.write(
            f"Not handed to the task queue yet: {count} (twofactor_requeue hands them over):"
        )
        for row in OutboxMessage.objects.order_by("created_at", "id")[:limit]:
            failed = f" failed {row.attempts}x ({row.error})" if row.attempts else ""
            self.stdout.write(f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.key} {row.kind}{failed}")

    def _list_stuck(self, minutes: float, limit: int) -> None:
        """Log rows still ``task_queued`` after ``minutes``: their task may be lost."""
        from ...models import MessageStatus

        cutoff = timezone.now() - timedelta(minutes=minutes)
        rows = OutgoingMessage.objects.filter(
            status=MessageStatus.TASK_QUEUED, created_at__lte=cutoff
        ).order_by("created_at", "id")
        stuck = list(rows[:limit])
        if not stuck:
            return
        self.stdout.write(
            f"Waiting for their task for more than {minutes:g} minutes (the task may be lost; "
            "twofactor_requeue enqueues the database ledger's and the outbox's again):"
        )
        for row in stuck:
            self.stdout.write(
                f"{row.created_at:%Y-%m-%d %H:%M:%S} {row.queue_key} to {row.recipient}"
            )

    def _list_unknown(self, ledger: SendLedger | None, limit: int) -> None:
        records = ledger.unknown(limit) if ledger is not None else []
        if not records:
            self.stdout.write("No unknown outcomes.")
            return
        from ...ledger import DatabaseLedger

        where = (
            'then resolve or send again in the admin\'s "Queued SMS" page.'
            if isinstance(ledger, DatabaseLedger)
            else "then record the verdict with the ledger's resolve(key, state=LedgerState.SENT "
            "or LedgerState.FAILED); this ledger has no admin page."
        )
        self.stdout.write(
            f"Outcome unknown: 2Factor may have received these. Check its delivery reports, {where}"
        )
        for record in records:
            when = f"{record.updated_at:%Y-%m-%d %H:%M:%S}" if record.updated_at else "-"
            self.stdout.write(
                f"{when} {record.key} {record.kind} to {', '.join(record.recipients)} "
                f"attempts={record.attempts} {record.error}"
            )

    def _list_unreadable(self, ledger: SendLedger | None, limit: int) -> None:
        records = ledger.unreadable(limit) if ledger is not None else []
        if not records:
            self.stdout.write("No unreadable messages.")
            return
        self.stdout.write(
            "Unreadable by a worker, never sent: a newer version queued them, or they were "
            "published with a field the worker refuses (the reason follows each key). Upgrade "
            "the workers or fix the publisher, then queue them again under the same key "
            "(twofactor_requeue does it for the database ledger's)."
        )
        for record in records:
            when = f"{record.updated_at:%Y-%m-%d %H:%M:%S}" if record.updated_at else "-"
            self.stdout.write(f"{when} {record.key} {record.error}")
