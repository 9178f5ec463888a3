"""two_factor's URLs (namespace ``two_factor``), with the views of
:mod:`otp_twofactor.two_factor.views` for login, setup and "add a backup phone".

In the project's ``urls.py``, in place of ``path("", include(two_factor.urls.urlpatterns))``::

    path("", include("otp_twofactor.two_factor.urls")),

Every other URL, name and view is two_factor's own, read from ``two_factor.urls``.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, path
from two_factor.urls import urlpatterns as two_factor_urlpatterns

from . import views

app_name = "two_factor"

_REPLACED: dict[str, Any] = {"login": views.LoginView, "setup": views.SetupView}
if hasattr(views, "PhoneSetupView"):
    _REPLACED["phone_create"] = views.PhoneSetupView


def _replace(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    replaced: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and pattern.name in _REPLACED:
            view = _REPLACED[pattern.name].as_view()
            replaced.append(path(str(pattern.pattern), view, name=pattern.name))
        elif isinstance(pattern, URLResolver) and pattern.namespace is None:
            # the phonenumber plugin's URLs live in two_factor's own namespace
            inner = _replace(list(pattern.url_patterns))
            replaced.append(URLResolver(pattern.pattern, inner))
        else:
            replaced.append(pattern)
    return replaced


urlpatterns = _replace(list(two_factor_urlpatterns[0]))
