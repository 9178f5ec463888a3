"""``manage.py twofactor_requeue [--older-than SECONDS] [--dry-run]``: enqueue again what a
lost task left waiting in the database ledger.

A task backend may lose a task (``django-tasks-db`` does not run again a task whose worker
was killed; a Celery message can be purged). Its key then waits in ``queued`` (never
claimed) or ``retry_wait`` (proven not sent) for ever. This command hands such envelopes to
the configured engine again. It is safe to run at any time, e.g. every few minutes from
cron: the ledger sends a key once, so a task that was only slow, enqueued twice, still sends
once. Keys that may have gone (``sending`` past its lease, ``unknown``) are never re-enqueued.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from twofactor_notify.errors import ConfigurationError


class Command(BaseCommand):
    """Enqueue again the envelopes waiting in the database ledger for longer than a while."""

    help = "Enqueue again queued messages whose task was lost (database ledger only)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--older-than and --dry-run."""
        parser.add_argument(
            "--older-than",
            type=float,
            default=600.0,
            help="seconds a key must have waited unchanged (default 600)",
        )
        parser.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args: Any, **options: Any) -> None:
        """Find the waiting envelopes and enqueue each once more."""
        from ...background import ENQUEUERS, get_options
        from ...ledger import DatabaseLedger
        from ...models import QueuedMessage

        older_than: float = options["older_than"]
        if not older_than >= 0:
            raise CommandError("--older-than must be 0 or more")
        try:
            settings = get_options()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if settings.ledger != "database":
            raise CommandError(
                f"twofactor_requeue works on the database ledger ({settings.key('LEDGER')})"
            )
        ledger = DatabaseLedger()
        envelopes = ledger.queued(older_than)
        if options["dry_run"]:
            for envelope in envelopes:
                self.stdout.write(f"would enqueue {envelope.key}")
            self.stdout.write(f"{len(envelopes)} waiting.")
            return
        enqueue = ENQUEUERS[settings.engine]
        for envelope in envelopes:
            QueuedMessage.objects.filter(key=envelope.key).update(updated_at=timezone.now())
            enqueue(envelope, settings)
        self.stdout.write(f"{len(envelopes)} enqueued again.")
