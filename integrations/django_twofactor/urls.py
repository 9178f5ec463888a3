"""URLs of the app: ``path("twofactor/", include("django_twofactor.urls"))``.

* ``delivery/`` and ``click/``: the webhooks (the token in the ``X-TwoFactor-Token``
  header; with ``WEBHOOK_QUERY_TOKEN`` on, register
  ``https://<host>/twofactor/delivery/?token=<WEBHOOK_TOKEN>`` with 2Factor);
* ``login/`` and ``login/code/``: the phone login views.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import EnterCodeView, RequestCodeView
from .webhooks import click_webhook, delivery_webhook

app_name = "django_twofactor"

urlpatterns: list[URLPattern] = [
    path("delivery/", delivery_webhook, name="delivery"),
    path("click/", click_webhook, name="click"),
    path("login/", RequestCodeView.as_view(), name="login"),
    path("login/code/", EnterCodeView.as_view(), name="login-verify"),
]
