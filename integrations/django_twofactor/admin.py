"""Read-only admin pages for the message log and the received reports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ClickReport, DeliveryReport, OutgoingMessage

__all__ = ["ClickReportAdmin", "DeliveryReportAdmin", "OutgoingMessageAdmin"]


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
    search_fields = ("recipient", "provider_id")
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
