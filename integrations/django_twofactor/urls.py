"""URLs of the app: ``path("twofactor/", include("django_twofactor.urls"))``.

* ``delivery/`` and ``click/``: the webhooks (the token in the ``X-TwoFactor-Token``
  header; with ``WEBHOOK_QUERY_TOKEN`` on, register
  ``https://<host>/twofactor/delivery/?token=<WEBHOOK_TOKEN>`` with 2Factor). Each also
  answers without its trailing slash (``delivery``): Django's ``APPEND_SLASH`` would
  otherwise answer a POST there with an error (``DEBUG``) or a redirect that loses the body,
  both quoting the URL and its ``?token=``;
* ``login/`` and ``login/code/``: the phone login views.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from .views import EnterCodeView, RequestCodeView
from .webhooks import click_webhook, delivery_webhook

__all__ = ["app_name", "urlpatterns", "webhook_paths"]

app_name = "django_twofactor"


def webhook_paths(
    route: str, view: Callable[[HttpRequest], HttpResponse], name: str
) -> list[URLPattern]:
    """Routes of one webhook: ``route`` (ending in ``/``, named ``name``) and the same
    without its slash, so that no slash is ever appended by a redirect."""
    return [path(route, view, name=name), path(route.rstrip("/"), view)]


urlpatterns: list[URLPattern] = [
    *webhook_paths("delivery/", delivery_webhook, "delivery"),
    *webhook_paths("click/", click_webhook, "click"),
    path("login/", RequestCodeView.as_view(), name="login"),
    path("login/code/", EnterCodeView.as_view(), name="login-verify"),
]
