"""A URLconf that does not route the webhooks (for the E004 check)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
