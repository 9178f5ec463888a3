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

import logging
import traceback
from typing import Any

import django_otp
from django.forms import Form, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from two_factor.views import LoginView as BaseLoginView
from two_factor.views import SetupView as BaseSetupView

from twofactor_notify.errors import OutcomeUnknownError, TwoFactorError
from twofactor_notify.redaction import redact

from ..errors import ChallengeDeliveryError

__all__ = ["LoginView", "PhoneSetupView", "SetupView", "send_challenge"]

logger = logging.getLogger("otp_twofactor")

#: The setup methods two_factor's own ``SetupView.done()`` knows how to finish.
_BUILT_IN_METHODS = frozenset({"generator", "call", "sms", "yubikey", "email", "webauthn"})


def send_challenge(device: Any) -> str | None:
    """Ask ``device`` for a challenge; ``None`` when it went out, else the message to show.

    The message never holds what went wrong inside (a number, a code, 2Factor's answer, an
    exception's text): the error is logged instead, with registered secrets redacted.
    """
    try:
        device.generate_challenge()
    except ChallengeDeliveryError as exc:
        # otp_twofactor's device: already logged, and its message is written for people
        return _("The code could not be sent: %(reason)s") % {"reason": exc.message}
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
                redact("".join(traceback.format_exception(exc))),
            )
        if isinstance(exc, OutcomeUnknownError) or getattr(exc, "outcome_unknown", False):
            return _(
                "The code could not be sent: the SMS service did not answer in time. If the "
                "code arrives, enter it; otherwise ask for a new one in a moment."
            )
        return _(
            "The code could not be sent: the SMS could not be sent. Please try again in a moment."
        )
    return None


def _show_error(form: Form, message: str) -> None:
    """Put ``message`` on ``form`` as a non-field error, bound or not (as two_factor does)."""
    form.cleaned_data = getattr(form, "cleaned_data", {})
    form.add_error(None, ValidationError(message, code="challenge_failed"))


class LoginView(BaseLoginView):  # type: ignore[misc]
    """two_factor's login wizard; a failed SMS is a form error with a "send again" button."""

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
                # read by methods whose verbose action would otherwise say "we sent you..."
                device.challenge_failed = True
        # two_factor's render() would send a second time: go past it
        response: HttpResponse = super(BaseLoginView, self).render(form, **kwargs)
        return response

    def get_context_data(self, form: Form, **kwargs: Any) -> dict[str, Any]:
        """After a failed send, offer the same device again: its button sends a new code."""
        context: dict[str, Any] = super().get_context_data(form, **kwargs)
        if self.challenge_error and self.steps.current == self.TOKEN_STEP:
            device = context["device"]
            others = [d for d in context.get("other_devices", ()) if d != device]
            context["other_devices"] = [device, *others]
            context["challenge_failed"] = True
        return context


class SetupView(BaseSetupView):  # type: ignore[misc]
    """two_factor's setup wizard; says why an SMS failed and finishes any registered method."""

    challenge_error: str | None = None

    def render_next_step(self, form: Form, **kwargs: Any) -> HttpResponse:
        """Send the code before the validation step, showing a failure on that step."""
        if self.steps.next != "validation":
            return super().render_next_step(form, **kwargs)  # type: ignore[no-any-return]
        self.challenge_error = send_challenge(self.get_device())
        kwargs["challenge_succeeded"] = self.challenge_error is None
        # two_factor's render_next_step() would send a second time: go past it
        response: HttpResponse = super(BaseSetupView, self).render_next_step(form, **kwargs)
        return response

    def get_form(self, step: str | None = None, **kwargs: Any) -> Form:
        """The step's form; the validation form carries a failed send's message."""
        form: Form = super().get_form(step=step, **kwargs)
        if self.challenge_error and (step or self.steps.current) == "validation":
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
        """two_factor's "add a backup phone" wizard; a failed SMS is a form error."""

        challenge_error: str | None = None

        def render_next_step(self, form: Form, **kwargs: Any) -> HttpResponse:
            """Send the code before the validation step, showing a failure on that step."""
            if self.steps.next != "validation":
                return super().render_next_step(form, **kwargs)  # type: ignore[no-any-return]
            self.challenge_error = send_challenge(self.get_device())
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
