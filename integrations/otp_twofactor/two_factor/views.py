"""two_factor's wizards, with a failed SMS shown as a form error instead of a 500.

django-two-factor-auth's login wizard (and its backup-phone wizard) send the code while
rendering a step and let any exception through: a 2Factor error, a timeout or a refused
send becomes "Server Error (500)". Its setup wizard catches the error but only says that
"an issue" occurred, and it cannot finish the setup of a method it does not know. These
subclasses keep two_factor's behaviour and change only that:

* the send is tried; on failure the step shows a clear, retryable form error (the cause is
  logged on the ``otp_twofactor`` logger, never shown), and the login wizard offers the
  same device again among the alternatives, a button that sends a new code;
* :class:`SetupView` confirms the device of any registered method (such as "SMS via
  2Factor").

They work for any device: two_factor's own phone device sending through
``django_twofactor.gateway.TwoFactorGateway`` as well as
:class:`~otp_twofactor.models.TwoFactorSMSDevice`. :mod:`otp_twofactor.two_factor.urls` routes
two_factor's URLs to them.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import django_otp
from django.core.cache import cache
from django.forms import Form, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.models import CooldownMixin
from two_factor.views import LoginView as BaseLoginView
from two_factor.views import SetupView as BaseSetupView

from twofactor_notify.errors import OutcomeUnknownError, TwoFactorError
from twofactor_notify.redaction import library_logger, redact

from ..errors import ChallengeDeliveryError, stack_without_text

__all__ = [
    "COOLING_DOWN",
    "NOT_SENT",
    "OUTCOME_UNKNOWN",
    "SENT",
    "LoginView",
    "PhoneSetupView",
    "SetupView",
    "send_challenge",
]

logger = library_logger("otp_twofactor")

#: The setup methods two_factor's own ``SetupView.done()`` knows how to finish.
_BUILT_IN_METHODS = frozenset({"generator", "call", "sms", "yubikey", "email", "webauthn"})


#: :func:`send_challenge` outcomes, stored on the device as ``challenge_status``.
SENT = "sent"
NOT_SENT = "not_sent"  # nothing went out (known): a new code may be asked for at once
OUTCOME_UNKNOWN = "unknown"  # the SMS may have gone out: the cooldown holds
COOLING_DOWN = "cooling_down"  # nothing sent now: the cooldown of the device or user runs

_GATE_PREFIX = "otp_twofactor:two_factor:challenge:"


def _cooldown_seconds() -> float:
    from ..conf import settings

    return settings.OTP_TWOFACTOR_COOLDOWN_DURATION


def _wait_message(seconds: float) -> str:
    wait = max(1, math.ceil(seconds))
    return ngettext(
        "No new code was sent: you can ask for one in %(seconds)d second.",
        "No new code was sent: you can ask for one in %(seconds)d seconds.",
        wait,
    ) % {"seconds": wait}


def _gate_keys(device: Any, user: Any) -> list[str]:
    """The cooldowns this send must claim besides the device's own.

    ``user`` (the setup wizards): one per user, whatever the number or device -- a changed
    number, a restarted wizard or a new unsaved device do not start a new cooldown. A saved
    device without a cooldown of its own (two_factor's ``PhoneDevice``): one per device.
    """
    keys = []
    if user is not None and getattr(user, "pk", None) is not None:
        keys.append(f"{_GATE_PREFIX}user:{user.pk}")
    if not isinstance(device, CooldownMixin) and getattr(device, "pk", None) is not None:
        keys.append(f"{_GATE_PREFIX}device:{device.persistent_id}")
    return keys


def _device_wait(device: Any) -> float | None:
    """Seconds until ``device``'s own cooldown ends; ``None`` when it may send now."""
    if not isinstance(device, CooldownMixin):
        return None
    allowed, data = device.generate_is_allowed()
    if allowed:
        return None
    next_at = (data or {}).get("next_generation_at")
    if not isinstance(next_at, datetime):
        return 1.0
    return max(1.0, (next_at - timezone.now()).total_seconds())


def _claim_gates(keys: list[str]) -> tuple[list[str], float | None]:
    """Claim every gate in ``keys`` (Django's default cache); else the seconds to wait."""
    seconds = _cooldown_seconds()
    if seconds <= 0 or not keys:
        return [], None
    now = time.time()
    claimed: list[str] = []
    for key in keys:
        if cache.add(key, now + seconds, timeout=math.ceil(seconds)):
            claimed.append(key)
            continue
        cache.delete_many(claimed)  # nothing is sent: give back what this request claimed
        until = cache.get(key)
        wait = (until - now) if isinstance(until, float) else seconds
        return [], max(1.0, wait)
    return claimed, None


def send_challenge(device: Any, *, user: Any = None) -> str | None:
    """Ask ``device`` for a challenge; ``None`` when it went out, else the message to show.

    The cooldown holds on every path: the device's own (``OTP_TWOFACTOR_COOLDOWN_DURATION``,
    :class:`~otp_twofactor.models.TwoFactorSMSDevice`), one per saved device that has none
    (two_factor's ``PhoneDevice``) and, given ``user`` (the setup wizards), one per user
    whatever the number typed. While one runs nothing is sent and the message says how long
    to wait. A send that surely failed gives the cooldowns back; one whose outcome is unknown
    keeps them (the SMS may arrive). The outcome is left on the device as
    ``challenge_status`` (:data:`SENT`, :data:`NOT_SENT`, :data:`OUTCOME_UNKNOWN`,
    :data:`COOLING_DOWN`) for the texts that depend on it.

    The message never holds what went wrong inside (a number, a code, 2Factor's answer, an
    exception's text): the error is logged instead, with registered secrets redacted.
    """
    wait = _device_wait(device)
    claimed: list[str] = []
    if wait is None:
        claimed, wait = _claim_gates(_gate_keys(device, user))
    if wait is not None:
        device.challenge_status = COOLING_DOWN
        return _wait_message(wait)
    try:
        device.generate_challenge()
    except ChallengeDeliveryError as exc:
        # otp_twofactor's device: already logged, and its message is written for people
        unknown = not exc.retry_allowed
        message = _("The code could not be sent: %(reason)s") % {"reason": exc.message}
    except Exception as exc:
        if isinstance(exc, TwoFactorError):
            logger.warning(
                "Challenge of device %s not delivered: %s: %s",
                getattr(device, "persistent_id", "?"),
                type(exc).__name__,
                exc,
            )
        else:
            logger.error(
                "Challenge of device %s not delivered: unexpected %s\n%s",
                getattr(device, "persistent_id", "?"),
                type(exc).__name__,
                redact(stack_without_text(exc)),
            )
        unknown = isinstance(exc, OutcomeUnknownError) or bool(
            getattr(exc, "outcome_unknown", False)
        )
        if unknown:
            message = _(
                "The code could not be sent: the SMS service did not confirm it. If the "
                "code arrives, enter it; otherwise ask for a new one in a moment."
            )
        else:
            message = _(
                "The code could not be sent: the SMS could not be sent. Please try again in "
                "a moment."
            )
    else:
        device.challenge_status = SENT
        return None
    if unknown:
        device.challenge_status = OUTCOME_UNKNOWN  # the cooldowns stay: it may arrive
    else:
        device.challenge_status = NOT_SENT
        cache.delete_many(claimed)
    return message


def _show_error(form: Form, message: str) -> None:
    """Put ``message`` on ``form`` as a non-field error, bound or not (as two_factor does)."""
    form.cleaned_data = getattr(form, "cleaned_data", {})
    form.add_error(None, ValidationError(message, code="challenge_failed"))


class LoginView(BaseLoginView):  # type: ignore[misc]
    """two_factor's login wizard; a failed SMS is a form error with a "send again" button.

    A code is sent only when the device's cooldown allows it: otherwise the step says how
    long to wait (and that no new code went out), not that one was sent.
    """

    challenge_error: str | None = None

    def render(self, form: Form | None = None, **kwargs: Any) -> HttpResponse:
        """Send the code of the token step as two_factor does, catching its failure."""
        if self.steps.current != self.TOKEN_STEP:
            return super().render(form, **kwargs)  # type: ignore[no-any-return]
        form = form or self.get_form()
        if not (form.is_bound and not form.is_valid()):
            device = self.get_device()
            self.challenge_error = send_challenge(device)
            if self.challenge_error:
                _show_error(form, self.challenge_error)
        # two_factor's render() would send a second time: go past it
        response: HttpResponse = super(BaseLoginView, self).render(form, **kwargs)
        return response

    def get_context_data(self, form: Form, **kwargs: Any) -> dict[str, Any]:
        """When no code went out, offer the same device again: its button asks for a new
        one (and, while the cooldown runs, says how long to wait)."""
        context: dict[str, Any] = super().get_context_data(form, **kwargs)
        if self.challenge_error and self.steps.current == self.TOKEN_STEP:
            device = context["device"]
            others = [d for d in context.get("other_devices", ()) if d != device]
            context["other_devices"] = [device, *others]
            context["challenge_failed"] = True
            context["challenge_status"] = getattr(device, "challenge_status", None)
        return context


#: Where the setup wizards keep the outcome of their last send (in the wizard's storage).
_STATUS_KEY = "otp_twofactor_challenge_status"


class SetupView(BaseSetupView):  # type: ignore[misc]
    """two_factor's setup wizard; says why an SMS failed and finishes any registered method.

    Its SMS keep one cooldown per user (``OTP_TWOFACTOR_COOLDOWN_DURATION``) besides the
    device's own: going back to type another number, or starting the wizard again, does not
    send a new code before it ends (see :func:`send_challenge`).
    """

    challenge_error: str | None = None

    def render_next_step(self, form: Form, **kwargs: Any) -> HttpResponse:
        """Send the code before the validation step, showing a failure on that step."""
        if self.steps.next != "validation":
            return super().render_next_step(form, **kwargs)  # type: ignore[no-any-return]
        device = self.get_device()
        self.challenge_error = send_challenge(device, user=self.request.user)
        self.storage.extra_data[_STATUS_KEY] = device.challenge_status
        kwargs["challenge_succeeded"] = self.challenge_error is None
        # two_factor's render_next_step() would send a second time: go past it
        response: HttpResponse = super(BaseSetupView, self).render_next_step(form, **kwargs)
        return response

    def get_form(self, step: str | None = None, **kwargs: Any) -> Form:
        """The step's form; the validation form carries a failed send's message."""
        form: Form = super().get_form(step=step, **kwargs)
        if (step or self.steps.current) == "validation":
            status = self.storage.extra_data.get(_STATUS_KEY)
            if status and hasattr(form, "show_challenge_status"):
                form.show_challenge_status(status)
            if self.challenge_error:
                _show_error(form, self.challenge_error)
        return form

    def done(self, form_list: Any, **kwargs: Any) -> HttpResponse:
        """Confirm the new device, for two_factor's methods and for any other one."""
        method = self.get_method()
        if method.code in _BUILT_IN_METHODS:
            return super().done(form_list, **kwargs)  # type: ignore[no-any-return]
        self.request.session.pop(self.session_key_name, None)
        device = self.get_device()
        device.confirmed = True
        device.save()
        django_otp.login(self.request, device)
        return redirect(self.get_success_url())


try:
    from two_factor.plugins.phonenumber.views import PhoneSetupView as _BasePhoneSetupView
except ImportError:  # phonenumber plugin unavailable (its requirements are missing)
    _BasePhoneSetupView = None


if _BasePhoneSetupView is not None:

    class PhoneSetupView(_BasePhoneSetupView):  # type: ignore[misc]
        """two_factor's "add a backup phone" wizard; a failed SMS is a form error, and its
        SMS keep one cooldown per user as :class:`SetupView`'s do."""

        challenge_error: str | None = None

        def render_next_step(self, form: Form, **kwargs: Any) -> HttpResponse:
            """Send the code before the validation step, showing a failure on that step."""
            if self.steps.next != "validation":
                return super().render_next_step(form, **kwargs)  # type: ignore[no-any-return]
            device = self.get_device()
            self.challenge_error = send_challenge(device, user=self.request.user)
            self.storage.extra_data[_STATUS_KEY] = device.challenge_status
            response: HttpResponse = super(_BasePhoneSetupView, self).render_next_step(
                form, **kwargs
            )
            return response

        def get_form(self, step: str | None = None, **kwargs: Any) -> Form:
            """The step's form; the validation form carries a failed send's message."""
            form: Form = super().get_form(step=step, **kwargs)
            if self.challenge_error and (step or self.steps.current) == "validation":
                _show_error(form, self.challenge_error)
            return form

        def get_template_names(self) -> list[str]:
            """Ours (which says "sent" only when it was), else two_factor's own."""
            return ["otp_twofactor/two_factor/phone_register.html", *super().get_template_names()]

        def get_context_data(self, form: Form, **kwargs: Any) -> dict[str, Any]:
            """Adds ``challenge_status``: the outcome of the last send."""
            context: dict[str, Any] = super().get_context_data(form, **kwargs)
            context["challenge_status"] = self.storage.extra_data.get(_STATUS_KEY)
            return context
