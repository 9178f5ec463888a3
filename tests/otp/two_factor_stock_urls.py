"""two_factor's own URLs, unchanged (the system check must notice them)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from two_factor.urls import urlpatterns as two_factor_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [path("", include(two_factor_urlpatterns))]
