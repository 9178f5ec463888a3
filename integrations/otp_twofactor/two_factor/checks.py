"""System check of the two_factor method: ``otp_twofactor.W002``.

two_factor's own login and setup views turn a failed SMS into a 500, and its setup view
cannot finish "SMS via 2Factor": the project must route two_factor's URLs through
:mod:`otp_twofactor.two_factor.urls` (or through subclasses of its views).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

__all__ = ["check_two_factor_urls"]


@register(Tags.urls)
def check_two_factor_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when ``two_factor:login`` or ``two_factor:setup`` is served by two_factor's view."""
    from . import views

    ours = {"login": views.LoginView, "setup": views.SetupView}
    stock = []
    for name, view_class in ours.items():
        try:
            match = resolve(reverse(f"two_factor:{name}"))
        except (NoReverseMatch, Resolver404):
            continue  # two_factor is not routed (or not under its namespace): nothing to say
        served = getattr(match.func, "view_class", None)
        if not (isinstance(served, type) and issubclass(served, view_class)):
            stock.append(name)
    if not stock:
        return []
    names = ", ".join(f"two_factor:{name}" for name in stock)
    return [
        Warning(
            f"{names} served by django-two-factor-auth's own view: a failed SMS there is a "
            "500 (login), and the setup of 'SMS via 2Factor' cannot finish (setup).",
            hint=(
                'Route two_factor through path("", include("otp_twofactor.two_factor.urls")) '
                "in place of two_factor's URLs, or subclass otp_twofactor.two_factor.views."
            ),
            id="otp_twofactor.W002",
        )
    ]
