"""The phone login views: "request a code" and "enter the code".

Include them with ``include("django_twofactor.urls")`` or copy them. The first view never
tells whether a number has an account: it answers the same way either way (a code is sent
only to numbers with an active account, or to every number when ``CREATE_USERS`` is true;
a send that fails is logged and answered with the same redirect), and it counts every
request per number against ``SEND_LIMIT`` per ``SEND_WINDOW_SECONDS`` so that nobody can
run up the SMS bill on one number. The time a send takes is not hidden; see
docs/django-auth.md.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, authenticate, get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from twofactor_notify.errors import TwoFactorError
from twofactor_notify.redaction import library_logger

from . import throttle
from .auth import pending_login, phone_field, remember_pending_login
from .backends import get_backend
from .conf import get_settings
from .forms import CodeForm, PhoneForm

__all__ = ["EnterCodeView", "RequestCodeView", "mask_phone"]

logger = library_logger("django_twofactor.views")


def mask_phone(e164: str) -> str:
    """``+919876543210`` -> ``+91******3210`` (for showing where a code went)."""
    if len(e164) <= 7:
        return e164
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


class RequestCodeView(FormView):  # type: ignore[type-arg]
    """Step 1: take a phone number and (when it may log in) text it a code."""

    template_name = "django_twofactor/request_code.html"
    form_class = PhoneForm
    #: URL name of the code step
    verify_url_name = "django_twofactor:login-verify"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Adds ``next``."""
        context = super().get_context_data(**kwargs)
        context["next"] = _safe_next(self.request) or ""
        return context

    def form_valid(self, form: PhoneForm) -> HttpResponse:
        """Count the request, send a code if the number may log in, go to the code step."""
        phone: str = form.cleaned_data["phone"]
        if not throttle.record_send(phone):
            form.add_error(
                None, _("Too many codes were requested for this number. Try again later.")
            )
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        session_id = None
        # Built for every number, before the account is looked up: a configuration error
        # is raised (not logged as a failed send), and raised alike for every number.
        transport = get_backend().transport
        if self.may_receive_code(phone):
            config = get_settings()
            try:
                sent = transport.send_otp(
                    phone,
                    template=config.otp_template,
                    length=config.otp_length,
                    metadata={"purpose": "login"},
                )
            except TwoFactorError as exc:
                # Answer exactly as for a number without an account (the code step, no
                # message): an error page shown only to account holders would tell anyone
                # which numbers have an account. The person can ask for a new code there.
                logger.warning("login code could not be sent: %s", type(exc).__name__)
            else:
                session_id = sent.session_id
        remember_pending_login(self.request, phone, session_id)
        return HttpResponseRedirect(self.get_success_url())

    def may_receive_code(self, phone: str) -> bool:
        """True when ``phone`` belongs to an active user, or users may be created."""
        config = get_settings()
        if config.create_users:
            return True
        user_model = get_user_model()
        users = user_model._default_manager.filter(**{phone_field(): phone})
        return any(getattr(u, "is_active", True) for u in users[:2])

    def get_success_url(self) -> str:
        """The code step, carrying ``next`` along."""
        url = reverse(self.verify_url_name)
        target = _safe_next(self.request)
        return f"{url}?{urlencode({REDIRECT_FIELD_NAME: target})}" if target else url


class EnterCodeView(FormView):  # type: ignore[type-arg]
    """Step 2: take the code, authenticate with :class:`~django_twofactor.auth.PhoneOTPBackend`
    and log the user in."""

    template_name = "django_twofactor/enter_code.html"
    form_class = CodeForm
    #: URL name of the phone step (where to go without a login in progress)
    request_url_name = "django_twofactor:login"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Send visitors without a login in progress back to the phone step."""
        if pending_login(request) is None:
            return HttpResponseRedirect(reverse(self.request_url_name))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Adds ``masked_phone`` and ``next``."""
        context = super().get_context_data(**kwargs)
        pending = pending_login(self.request) or {}
        context["masked_phone"] = mask_phone(str(pending.get("phone", "")))
        context["next"] = _safe_next(self.request) or ""
        context["request_url"] = reverse(self.request_url_name)
        return context

    def form_valid(self, form: CodeForm) -> HttpResponse:
        """Authenticate; log in and redirect, or show why not."""
        pending = pending_login(self.request) or {}
        phone = str(pending.get("phone", ""))
        user = authenticate(self.request, phone=phone, token=form.cleaned_data["token"])
        if user is None:
            if throttle.is_locked_out(phone):
                form.add_error(None, _("Too many wrong codes. Request a new code later."))
            else:
                form.add_error(None, _("That code is not valid or has expired."))
            return self.form_invalid(form)
        login(self.request, user)
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self) -> str:
        """``next`` when it is safe, else ``LOGIN_REDIRECT_URL``."""
        return _safe_next(self.request) or resolve_url(settings.LOGIN_REDIRECT_URL)
