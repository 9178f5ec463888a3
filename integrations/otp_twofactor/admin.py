"""Admin for :class:`~otp_twofactor.models.TwoFactorSMSDevice`."""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.exceptions import AlreadyRegistered
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.admin import user_model_search_fields

from .errors import ChallengeDeliveryError
from .models import TwoFactorSMSDevice

__all__ = ["TwoFactorSMSDeviceAdmin"]


def _search_fields() -> tuple[list[str], str]:
    user_model = get_user_model()
    fields, help_text = user_model_search_fields([user_model.USERNAME_FIELD, "email"])
    return [*fields, "number", "name"], str(help_text)


if TYPE_CHECKING:
    _DeviceAdmin = admin.ModelAdmin[TwoFactorSMSDevice]
else:
    _DeviceAdmin = admin.ModelAdmin


class TwoFactorSMSDeviceAdmin(_DeviceAdmin):
    """Lists, searches and edits devices; never shows a pending token or session id.

    Actions: send a test challenge (respects the cooldown) and reset the lock-out; both need
    the change permission on devices (a view-only staff user is not offered them, and the
    admin refuses them if posted).
    """

    list_display = [
        "user",
        "name",
        "masked_number",
        "confirmed",
        "throttling_failure_count",
        "created_at",
        "last_used_at",
    ]
    list_filter = ["confirmed", "created_at", "last_used_at"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "created_at",
        "last_used_at",
        "last_generated_timestamp",
        "throttling_failure_count",
        "throttling_failure_timestamp",
    ]
    search_fields, search_help_text = _search_fields()
    fieldsets = [
        ("Identity", {"fields": ["user", "name", "confirmed"]}),
        ("Configuration", {"fields": ["number"]}),
        ("Timestamps", {"fields": ["created_at", "last_used_at", "last_generated_timestamp"]}),
        (
            "Throttling",
            {"fields": ["throttling_failure_count", "throttling_failure_timestamp"]},
        ),
    ]
    actions = ["send_test_challenge", "reset_throttling"]

    @admin.display(description="number")
    def masked_number(self, device: TwoFactorSMSDevice) -> str:
        """The phone number, partly hidden."""
        return device.masked_number

    @admin.action(description="Send a test challenge by SMS", permissions=["change"])
    def send_test_challenge(
        self, request: HttpRequest, queryset: QuerySet[TwoFactorSMSDevice]
    ) -> None:
        """Ask each selected device for a challenge; voids its pending token."""
        for device in queryset:
            try:
                message = device.generate_challenge()
            except ChallengeDeliveryError as exc:
                self.message_user(request, f"{device}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{device}: {message}", level=messages.INFO)

    @admin.action(description="Reset the failed-attempt lock-out", permissions=["change"])
    def reset_throttling(
        self, request: HttpRequest, queryset: QuerySet[TwoFactorSMSDevice]
    ) -> None:
        """Forget the selected devices' failed verifications."""
        count = queryset.update(throttling_failure_count=0, throttling_failure_timestamp=None)
        self.message_user(request, f"Lock-out reset on {count} device(s).", level=messages.SUCCESS)


# The admin may import this module twice (autodiscovery and a project's own import).
with suppress(AlreadyRegistered):
    admin.site.register(TwoFactorSMSDevice, TwoFactorSMSDeviceAdmin)
