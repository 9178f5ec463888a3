"""Read-only admin pages for the message log, the queued messages and the received reports.

The queued messages page (the database send ledger) lists outcome-unknown messages with
what is known, and offers the only ways a human moves one on: "it went" (resolve as sent),
"it did not go" (resolve as failed), or "send again" under a new idempotency key. Each
records who decided and when; nothing is ever sent again automatically.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from twofactor_notify.background import LedgerState
from twofactor_notify.errors import TwoFactorError

from .models import (
    ClickReport,
    DeliveryReport,
    OutboxMessage,
    OutgoingMessage,
    QueuedMessage,
    QueuedState,
)

__all__ = [
    "ClickReportAdmin",
    "DeliveryReportAdmin",
    "OutboxMessageAdmin",
    "OutgoingMessageAdmin",
    "QueuedMessageAdmin",
]


class _ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows are written by the library only; the admin lists, searches and deletes."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(_ReadOnlyAdmin):
    """The outgoing message log."""

    list_display = ("created_at", "kind", "recipient", "sender", "status", "provider_id")
    list_filter = ("kind", "status", "created_at")
    search_fields = ("recipient", "provider_id", "queue_key")
    date_hierarchy = "created_at"


@admin.register(DeliveryReport)
class DeliveryReportAdmin(_ReadOnlyAdmin):
    """Delivery reports received by the webhook."""

    list_display = ("received_at", "message_id", "recipient", "status", "status_at")
    list_filter = ("status", "received_at")
    search_fields = ("message_id", "recipient", "callback_value1", "callback_value2")
    date_hierarchy = "received_at"


@admin.register(ClickReport)
class ClickReportAdmin(_ReadOnlyAdmin):
    """Clicks on tracked links received by the click webhook."""

    list_display = ("received_at", "campaign_name", "phone", "accessed_at")
    list_filter = ("campaign_name",)
    search_fields = ("phone", "campaign_name")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_ReadOnlyAdmin):
    """Messages queued in the background that no task queue has taken yet (the outbox):
    ``twofactor_requeue`` hands them over. The envelope (the message's text) is not shown."""

    list_display = ("created_at", "key", "kind", "attempts", "error", "tried_at")
    list_filter = ("kind", "error")
    search_fields = ("key",)
    exclude = ("envelope",)


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return user.get_username() if user is not None else "unknown user"


@admin.register(QueuedMessage)
class QueuedMessageAdmin(_ReadOnlyAdmin):
    """The messages sent in the background (the database send ledger).

    Filter by state ``unknown`` for those that wait for a human: check 2Factor's delivery
    reports for the recipients (the message log, 2Factor's dashboard), then use an action.
    """

    list_display = (
        "created_at",
        "key",
        "kind",
        "recipient_list",
        "state",
        "attempts",
        "error",
        "updated_at",
        "resent_as",
        "resent_by",
        "resent_at",
    )
    list_filter = ("state", "kind", "created_at")
    search_fields = ("key", "recipients", "resent_as")
    date_hierarchy = "created_at"
    exclude = ("envelope", "token")
    actions = ("send_again", "resolve_sent", "resolve_failed")

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        """The actions need ``django_twofactor.resolve_queuedmessage``: viewing the page is
        not enough to send an SMS again."""
        user: Any = request.user
        return bool(user.has_perm("django_twofactor.resolve_queuedmessage"))

    @admin.display(description="recipients")
    def recipient_list(self, obj: QueuedMessage) -> str:
        """The message's numbers."""
        return ", ".join(obj.recipients)

    def _unknown_only(self, request: HttpRequest, queryset: QuerySet[QueuedMessage]) -> list[str]:
        keys = list(queryset.filter(state=QueuedState.UNKNOWN).values_list("key", flat=True))
        skipped = queryset.exclude(state=QueuedState.UNKNOWN).count()
        if skipped:
            self.message_user(
                request,
                f"{skipped} selected message(s) are not of unknown outcome; left as they are.",
                messages.WARNING,
            )
        return keys

    @admin.action(
        permissions=["resolve"],
        description="Send again under a new key (2Factor's reports show it never went)",
    )
    def send_again(self, request: HttpRequest, queryset: QuerySet[QueuedMessage]) -> None:
        """Resolve each selected unknown as failed, recording who and when, and queue the
        same message under a new key; sent once the transaction commits."""
        from .background import ENQUEUERS, get_options
        from .ledger import DatabaseLedger

        ledger = DatabaseLedger(using=queryset.db)
        options = get_options()
        enqueue = ENQUEUERS[options.engine]
        sent = []
        for key in self._unknown_only(request, queryset):
            try:
                envelope = ledger.send_again(key, by=_who(request))
            except TwoFactorError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            transaction.on_commit(partial(enqueue, envelope, options), using=queryset.db)
            sent.append(f"{key} -> {envelope.key}")
        if sent:
            self.message_user(request, "Queued again: " + "; ".join(sent), messages.SUCCESS)

    def _resolve(
        self, request: HttpRequest, queryset: QuerySet[QueuedMessage], state: LedgerState
    ) -> None:
        from django.utils import timezone

        from .ledger import DatabaseLedger

        ledger = DatabaseLedger(using=queryset.db)
        done = 0
        for key in self._unknown_only(request, queryset):
            note = f"resolved {state.value} by {_who(request)} at {timezone.now():%Y-%m-%d %H:%M}"
            try:
                ledger.resolve(key, state=state, note=note)
            except TwoFactorError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            done += 1
        if done:
            self.message_user(request, f"{done} resolved as {state.value}.", messages.SUCCESS)

    @admin.action(
        permissions=["resolve"],
        description="Resolve as sent (2Factor's reports show it went)",
    )
    def resolve_sent(self, request: HttpRequest, queryset: QuerySet[QueuedMessage]) -> None:
        """Record the human's verdict: the message reached 2Factor."""
        self._resolve(request, queryset, LedgerState.SENT)

    @admin.action(
        permissions=["resolve"],
        description="Resolve as not sent, and do not send it",
    )
    def resolve_failed(self, request: HttpRequest, queryset: QuerySet[QueuedMessage]) -> None:
        """Record the human's verdict: the message did not go, and should not."""
        self._resolve(request, queryset, LedgerState.FAILED)
