"""URLs for the otp_twofactor tests: django-otp's login view, a page behind it, OTP admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path
from django_otp.admin import OTPAdminSite
from django_otp.views import LoginView

from otp_twofactor.admin import TwoFactorSMSDeviceAdmin
from otp_twofactor.models import TwoFactorSMSDevice

otp_admin_site = OTPAdminSite(name="otpadmin")
otp_admin_site.register(TwoFactorSMSDevice, TwoFactorSMSDeviceAdmin)
otp_admin_site.register(get_user_model())


@login_required(login_url="/otp/login/")
def whoami(request: HttpRequest) -> HttpResponse:
    """Says who is logged in and whether an OTP device verified them."""
    verified = request.user.is_verified()  # type: ignore[union-attr]
    return HttpResponse(
        f"<html><body><p id='user'>{request.user.get_username()}</p>"
        f"<p id='verified'>verified={verified}</p></body></html>"
    )


urlpatterns: list[URLPattern | URLResolver] = [
    path("otp/login/", LoginView.as_view(template_name="otp_tests/login.html"), name="login"),
    path("otp/whoami/", whoami, name="whoami"),
    path("admin/", admin.site.urls),
    path("otpadmin/", otp_admin_site.urls),
]
