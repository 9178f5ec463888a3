"""The webhooks alone, routed as docs/django-webhooks.md shows (no login views)."""

from __future__ import annotations

from django_twofactor.urls import webhook_paths
from django_twofactor.webhooks import click_webhook, delivery_webhook

urlpatterns = [
    *webhook_paths("twofactor/delivery/", delivery_webhook, "twofactor-delivery"),
    *webhook_paths("twofactor/click/", click_webhook, "twofactor-click"),
]
