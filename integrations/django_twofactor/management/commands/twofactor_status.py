"""``manage.py twofactor_status [--limit N] [--phone PHONE]``: recent messages and their status."""

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

    def handle(self, *args: Any, **options: Any) -> None:
        """Print one line per message, newest first."""
        limit: int = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        rows = OutgoingMessage.objects.all()
        if options["phone"]:
            try:
                phone = normalize_phone(options["phone"], region=get_settings().region)
            except InvalidInputError as exc:
                raise CommandError(str(exc)) from None
            rows = rows.filter(recipient=phone)
        found = list(rows.order_by("-created_at", "-id")[:limit])
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
