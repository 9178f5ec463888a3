"""``manage.py twofactor_requeue [--grace SECONDS] [--older-than SECONDS] [--dry-run]``: hand
over again what the task queue never took, or lost.

* **The outbox** (every ledger): a message queued in the background keeps its envelope in
  the outbox until the queue engine took it, right after the commit. A row older than
  ``--grace`` seconds (default 60) means the broker refused it or the process died first:
  it is handed over again.
* **Idle keys** (the database ledger): a task backend may lose a task (``django-tasks-db``
  does not run again a task whose worker was killed; a Celery message can be purged). Its
  key then waits in ``queued`` (never claimed) or ``retry_wait`` (proven not sent) for ever;
  keys unchanged for ``--older-than`` seconds (default 600) are enqueued again.
* **Unclaimed keys** (the Redis ledger): every key is noted in Redis before the broker gets
  it, until a worker claims it. Kombu's Redis transport can lose a message (a worker killed
  between taking it and recording it unacknowledged); a key noted ``--older-than`` seconds
  ago and never claimed is enqueued again. An OTP with its own code has no envelope kept:
  it is recorded ``failed`` ("not handed over") instead.

Safe to run at any time, e.g. every minute from cron (or the Celery task
``twofactor_notify.republish`` from beat): the ledger sends a key once, so a message handed
over twice still sends once. Keys that may have gone (``sending`` past its lease,
``unknown``) are never re-enqueued. Exits with an error when the queue refused a hand-over.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twofactor_notify.errors import ConfigurationError


class Command(BaseCommand):
    """Hand the outbox over again; enqueue the ledger's idle or unclaimed keys again."""

    help = "Hand over again the queued messages the task queue never took, or lost."

    def add_arguments(self, parser: CommandParser) -> None:
        """--grace, --older-than and --dry-run."""
        from ...outbox import DEFAULT_GRACE, DEFAULT_IDLE

        parser.add_argument(
            "--grace",
            type=float,
            default=DEFAULT_GRACE,
            help=f"seconds an outbox row is left to its own hand-over (default {DEFAULT_GRACE:g})",
        )
        parser.add_argument(
            "--older-than",
            type=float,
            default=DEFAULT_IDLE,
            help="seconds a database-ledger key must have waited unchanged, or a Redis-ledger "
            f"key unclaimed (default {DEFAULT_IDLE:g})",
        )
        parser.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run :func:`django_twofactor.outbox.republish` and print its report."""
        from ...outbox import republish

        for name in ("grace", "older_than"):
            if not options[name] >= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be 0 or more")
        try:
            report = republish(
                grace=options["grace"], older_than=options["older_than"], dry_run=options["dry_run"]
            )
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        if options["dry_run"]:
            for key in report.keys:
                self.stdout.write(f"would enqueue {key}")
            self.stdout.write(
                f"would hand over {report.handed_over} from the outbox and enqueue "
                f"{report.requeued} idle keys again."
            )
            return
        self.stdout.write(str(report))
        if report.refused:
            raise CommandError(
                f"the task queue refused a hand-over: {report.waiting} messages still wait in "
                "the outbox (run this again once the queue is back)"
            )
