"""URLs for the two_factor tests: two_factor's URLs through otp_twofactor.two_factor.urls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django_otp.decorators import otp_required


@otp_required(login_url="/account/login/")
def secret(request: HttpRequest) -> HttpResponse:
    """A page for verified users only."""
    return HttpResponse(
        f"<html><body><p id='user'>{request.user.get_username()}</p>"
        f"<p id='verified'>verified={request.user.is_verified()}</p></body></html>"  # type: ignore[union-attr]
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("otp_twofactor.two_factor.urls")),
    path("secret/", secret, name="secret"),
]
