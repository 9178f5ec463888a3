"""Passwordless login with a phone number and an SMS code.

Add the backend to ``AUTHENTICATION_BACKENDS``::

    AUTHENTICATION_BACKENDS = [
        "django_twofactor.auth.PhoneOTPBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]

and call ``authenticate(request, phone=..., token=...)``. The code is named ``token`` so
that ``django.contrib.auth`` masks it in the ``user_login_failed`` signal (it cleanses
credentials whose names match ``api|token|key|secret|password|signature``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest

from twofactor_notify.boundary import ErrorBoundary
from twofactor_notify.errors import ConfigurationError, InvalidInputError, TwoFactorError
from twofactor_notify.redaction import library_logger
from twofactor_notify.validation import validate_otp_phone

from . import throttle
from .backends import get_backend
from .conf import get_settings

__all__ = [
    "LOGIN_SESSION_KEY",
    "PhoneOTPBackend",
    "create_user_for_phone",
    "pending_login",
    "phone_field",
    "remember_pending_login",
]

logger = library_logger("django_twofactor.auth")

#: ``request.session`` key of the login in progress: ``{"phone": E.164, "session_id": …}``.
LOGIN_SESSION_KEY = "django_twofactor_login"


def remember_pending_login(request: HttpRequest, phone: str, session_id: str | None) -> None:
    """Keep the number (and the OTP session id, if a code was sent) for the code step."""
    request.session[LOGIN_SESSION_KEY] = {"phone": phone, "session_id": session_id}


def pending_login(request: HttpRequest | None) -> dict[str, Any] | None:
    """The login in progress stored by :func:`remember_pending_login`, if any."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    data = session.get(LOGIN_SESSION_KEY)
    return data if isinstance(data, dict) and isinstance(data.get("phone"), str) else None


class PhoneOTPBackend(ErrorBoundary, BaseBackend):
    """Authenticates ``phone`` + ``token`` (an SMS OTP) against 2Factor via the transport.

    * the number is normalised to E.164 and the user is found by
      ``TWOFACTOR_NOTIFY['PHONE_FIELD']`` (which must hold E.164 numbers);
    * the code is verified by the OTP session id kept in ``request.session`` by the
      "request a code" view when it belongs to this number, else by number (VERIFY3);
    * attempts are counted per number *before* the code is checked (so parallel requests
      cannot slip past the limit); the attempt that reaches ``LOGIN_MAX_ATTEMPTS`` locks the
      number out for ``LOGIN_LOCKOUT_SECONDS`` from then, and every attempt over the limit
      fails without asking 2Factor; a successful login clears the count;
    * users are created only when ``CREATE_USERS`` is true; inactive users are refused;
    * a wrong, malformed or expired code, or a 2Factor outage, returns ``None``.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        phone: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        """Return the user whose number is ``phone`` if ``token`` is its current code."""
        if phone is None or token is None:
            return None  # credentials meant for another backend
        config = get_settings()
        try:
            e164 = validate_otp_phone(str(phone), region=config.region)
        except InvalidInputError:
            return None
        if throttle.is_locked_out(e164):
            logger.info("phone login refused: number locked out after failed attempts")
            return None
        # Count the attempt before checking the code: a check made before counting would let
        # parallel requests all pass it while none of them had been counted yet.
        if throttle.record_attempt(e164) > config.login_max_attempts:
            logger.info("phone login refused: number locked out after failed attempts")
            return None
        verified = self._verify(request, e164, token)  # a code is a str: see validate_otp_code
        if verified is None:
            throttle.release_attempt(e164)  # 2Factor unreachable: not the caller's failure
            return None
        if not verified:
            return None  # the attempt stays counted
        throttle.clear_failures(e164)
        if request is not None and pending_login(request) is not None:
            request.session.pop(LOGIN_SESSION_KEY, None)
        user = self._user_for(e164, create=config.create_users)
        if user is None or not self.user_can_authenticate(user):
            return None
        return user

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        """The active user with primary key ``user_id``, or ``None``."""
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None

    def user_can_authenticate(self, user: AbstractBaseUser) -> bool:
        """Refuse users whose ``is_active`` is false (as ``ModelBackend`` does)."""
        return getattr(user, "is_active", True) is not False

    # ------------------------------------------------------------------ internals

    def _verify(self, request: HttpRequest | None, e164: str, token: object) -> bool | None:
        """True when the code matched, False when it did not, None when 2Factor failed."""
        pending = pending_login(request)
        session_id = pending.get("session_id") if pending and pending["phone"] == e164 else None
        transport = get_backend().transport
        try:
            if session_id:
                verification = transport.verify_otp(token, session_id=session_id)  # type: ignore[arg-type]
            else:
                verification = transport.verify_otp(token, phone=e164)  # type: ignore[arg-type]
        except InvalidInputError:
            return False  # not 4-6 digits: a wrong code
        except TwoFactorError as exc:
            logger.warning("phone login: verification failed (%s)", type(exc).__name__)
            return None
        return bool(verification)

    def _user_for(self, e164: str, *, create: bool) -> AbstractBaseUser | None:
        user_model = get_user_model()
        field = phone_field()
        users = list(user_model._default_manager.filter(**{field: e164})[:2])
        if len(users) > 1:
            logger.error("phone login refused: several users share the number in %s", field)
            return None
        if users:
            return users[0]
        if not create:
            return None
        return create_user_for_phone(e164)


def phone_field() -> str:
    """``TWOFACTOR_NOTIFY['PHONE_FIELD']``, checked against the user model.

    :raises ConfigurationError: naming the key when it is no field (or lookup through
        relations) of the user model -- the system check ``django_twofactor.E007`` says so
        at start-up.
    """
    from .checks import _lookup_problem

    field = get_settings().phone_field
    problem = _lookup_problem(get_user_model(), field)
    if problem is not None:
        raise ConfigurationError(
            f"TWOFACTOR_NOTIFY['PHONE_FIELD'] = {field!r} is not a field of the user model: "
            f"{problem}",
            key="TWOFACTOR_NOTIFY['PHONE_FIELD']",
        )
    return field


def create_user_for_phone(e164: str) -> AbstractBaseUser:
    """Create a user for ``e164`` (``CREATE_USERS``): the number in the phone field and, when
    the phone field is not the username field, in the username as well; no usable password.
    """
    user_model = get_user_model()
    field = phone_field()
    username_field = user_model.USERNAME_FIELD
    values: dict[str, Any] = {str(username_field): e164}
    try:
        user_model._meta.get_field(field)
        values[field] = e164
    except FieldDoesNotExist:
        pass  # a lookup through a relation: the project fills it (e.g. a signal)
    user = user_model(**values)
    user.set_unusable_password()
    user.save()
    return user
