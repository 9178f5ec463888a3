"""The common phone login flow: request a code, verify it, mark the session.

Works with Flask-Login without requiring it: pass ``login_user`` (or any callable taking the
verified phone) as ``on_verified``::

    phone_login = PhoneLogin(on_verified=lambda phone: login_user(User.by_phone(phone)))

    @app.post("/login/phone")
    def send_code():
        phone_login.request_code(request.form["phone"])
        return redirect(url_for("enter_code"))

    @app.post("/login/code")
    def check_code():
        if phone_login.verify_code(request.form["code"].strip()):
            return redirect(url_for("home"))
        flash("Wrong or expired code")
        return redirect(url_for("enter_code"))

What is kept in ``flask.session`` (signed, not encrypted, with Flask's default sessions) is
the phone number, 2Factor's session id and an attempt counter — never the OTP: 2Factor
verifies the code. Throttling works at two levels: per browser session (wrong codes per
sent code, a pause between sends) and per phone number across sessions, in a small
:class:`AttemptStore` (in-process and per app by default), because a client can always drop
or replay its cookie.

The per-phone and per-code limits *reserve before acting*: a code is counted as sent before
it is sent, and a guess is counted as an attempt (and a failure) before it is checked; a
match then clears the failures. Concurrent requests therefore cannot exceed the limits,
provided the store's ``hit`` is atomic (see :mod:`flask_twofactor.attempts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import current_app, session

from twofactor_notify.boundary import ErrorBoundary, at_boundary
from twofactor_notify.errors import InvalidInputError, RateLimitedError
from twofactor_notify.models import OTPSent, VerificationOutcome
from twofactor_notify.validation import validate_otp_phone

from .attempts import AttemptStore, MemoryAttemptStore
from .extension import TwoFactorState, get_state

__all__ = [
    "PENDING_KEY",
    "VERIFIED_KEY",
    "AttemptStore",
    "LoginThrottledError",
    "MemoryAttemptStore",
    "PhoneLogin",
    "clear_login",
    "request_code",
    "verified_phone",
    "verify_code",
]

#: Session key of the login in progress (phone, 2Factor session id, attempts, sent time).
PENDING_KEY = "_twofactor_login"
#: Session key set to the E.164 phone number once a code matched.
VERIFIED_KEY = "twofactor_verified_phone"


class LoginThrottledError(RateLimitedError):
    """Too many codes requested or too many wrong codes; ``retry_after`` says when to retry."""


class PhoneLogin(ErrorBoundary):
    """Request an OTP for a phone, verify it, and mark the Flask session.

    :param on_verified: called with the verified E.164 phone after a match (e.g. a function
        calling ``flask_login.login_user``); returning ``False`` refuses the login.
    :param template: OTP template (default ``TWOFACTOR_OTP_TEMPLATE``).
    :param max_attempts: wrong codes allowed per sent code; then a new code is needed.
    :param resend_interval: seconds a session waits between two code requests.
    :param max_sends: codes one phone may be sent per ``window`` (across sessions).
    :param max_failures: wrong codes one phone may receive per ``window`` (across sessions).
    :param window: the per-phone window, in seconds.
    :param store: where the per-phone counts live. By default each app keeps an in-process
        :class:`MemoryAttemptStore` in its extension state (shared by the app's
        ``PhoneLogin`` objects, never by two apps); with several worker processes pass a
        shared store whose ``hit`` is atomic.

    Its methods, like the module's functions, are error boundaries
    (:class:`~twofactor_notify.boundary.ErrorBoundary`): the code being checked stays in the
    caller's frame only.
    """

    def __init__(
        self,
        *,
        on_verified: Callable[[str], Any] | None = None,
        template: str | None = None,
        max_attempts: int = 5,
        resend_interval: float = 30.0,
        max_sends: int = 5,
        max_failures: int = 10,
        window: float = 3600.0,
        store: AttemptStore | None = None,
    ) -> None:
        self.on_verified = on_verified
        self.template = template
        self.max_attempts = max_attempts
        self.resend_interval = resend_interval
        self.max_sends = max_sends
        self.max_failures = max_failures
        self.window = window
        self.store: AttemptStore | None = store

    def __repr__(self) -> str:
        return f"PhoneLogin(max_attempts={self.max_attempts}, max_sends={self.max_sends})"

    # ------------------------------------------------------------------ flow

    def request_code(self, phone: str) -> OTPSent:
        """Send a code to ``phone`` and remember the login in progress in the session.

        Replaces a login in progress and clears an earlier verification.

        The code is counted toward ``max_sends`` before it is sent (so concurrent requests
        cannot send more), and stays counted if the send fails.

        :raises LoginThrottledError: asked again too soon, or too many codes for the phone.
        :raises InvalidPhoneNumberError: ``phone`` is not a valid number.
        """
        state = get_state()
        store = self._store(state)
        e164 = validate_otp_phone(phone, region=state.config.region)
        pending = session.get(PENDING_KEY)
        now = time.time()
        if isinstance(pending, dict):
            waited = now - float(pending.get("sent_at", 0.0))
            if 0 <= waited < self.resend_interval:
                raise LoginThrottledError(
                    "a code was sent moments ago; wait before asking again",
                    retry_after=self.resend_interval - waited,
                )
        failures = store.count(self._key("fail", e164), self.window)
        if failures >= self.max_failures:
            raise LoginThrottledError(
                "too many wrong codes for this number; try again later", retry_after=self.window
            )
        # reserve the send first: of concurrent requests, only max_sends get a number
        if store.hit(self._key("send", e164), self.window) > self.max_sends:
            raise LoginThrottledError(
                "too many codes were sent to this number; try again later",
                retry_after=self.window,
            )
        sent = state.transport.send_otp(e164, template=self.template)
        session.pop(VERIFIED_KEY, None)
        session[PENDING_KEY] = {
            "phone": sent.to or e164,
            "session_id": sent.session_id,
            "attempts": 0,
            "sent_at": now,
        }
        return sent

    def verify_code(self, code: str) -> bool:
        """Check ``code`` for the login in progress; on a match mark the session.

        Returns ``False`` for a wrong, expired or malformed code, when no code was requested,
        and after too many attempts (the login in progress is then dropped: request a new
        code). On success the login in progress is cleared, ``session["twofactor_verified_phone"]``
        is set and ``on_verified`` is called.

        Each call is counted, in the store, as an attempt on the code sent and as a failure
        for the phone *before* the code is checked (a match clears the phone's failures), so
        replaying one session cookie from many concurrent requests cannot make more than
        ``max_attempts`` guesses per code nor ``max_failures`` per phone. A verification
        that fails with a library error (2Factor unreachable) still counts.
        """
        pending = session.get(PENDING_KEY)
        if not isinstance(pending, dict) or not pending.get("session_id"):
            return False
        state = get_state()
        store = self._store(state)
        phone = str(pending["phone"])
        session_id = str(pending["session_id"])
        attempts = int(pending.get("attempts", 0))
        if attempts >= self.max_attempts:
            session.pop(PENDING_KEY, None)
            return False
        # reserve the attempt (per code, then per phone) before asking 2Factor
        code_key = self._key("code", session_id)
        used = store.hit(code_key, self.window)
        if used > self.max_attempts or (
            store.hit(self._key("fail", phone), self.window) > self.max_failures
        ):
            session.pop(PENDING_KEY, None)
            return False
        last = used >= self.max_attempts or attempts + 1 >= self.max_attempts
        session[PENDING_KEY] = {**pending, "attempts": attempts + 1}
        try:
            result = state.transport.verify_otp(code, session_id=session_id)
        except InvalidInputError:  # not 4-6 digits: never reaches 2Factor, still an attempt
            return self._failed(drop=last)
        if not result:
            gone = result.outcome in (
                VerificationOutcome.EXPIRED,
                VerificationOutcome.UNKNOWN_SESSION,
            )
            return self._failed(drop=gone or last)
        session.pop(PENDING_KEY, None)
        store.reset(self._key("fail", phone))
        store.reset(code_key)
        if self.on_verified is not None and self.on_verified(phone) is False:
            return False
        session[VERIFIED_KEY] = phone
        return True

    def pending_phone(self) -> str | None:
        """The phone a code was sent to and not yet verified, if any."""
        pending = session.get(PENDING_KEY)
        return str(pending["phone"]) if isinstance(pending, dict) else None

    @staticmethod
    def verified_phone() -> str | None:
        """The phone this session verified, if any."""
        return verified_phone()

    @staticmethod
    def clear() -> None:
        """Forget the login in progress and the verification (call it on logout)."""
        clear_login()

    def _failed(self, *, drop: bool) -> bool:
        # the failure was counted when the attempt was reserved
        if drop:  # used up, expired or unknown: a new code is needed
            session.pop(PENDING_KEY, None)
        return False

    def _store(self, state: TwoFactorState | None = None) -> AttemptStore:
        """The store given at construction, else the current app's own."""
        if self.store is not None:
            return self.store
        return (state if state is not None else get_state()).attempt_store

    def _key(self, kind: str, value: str) -> str:
        # the app's name keeps apps apart in a store they share (e.g. one Redis)
        return f"{current_app.import_name}:{kind}:{value}"


#: The login the module-level functions use; its counts live in each app's own store.
_default = PhoneLogin()


@at_boundary
def request_code(phone: str) -> OTPSent:
    """:meth:`PhoneLogin.request_code` with the default settings."""
    return _default.request_code(phone)


@at_boundary
def verify_code(code: str, on_verified: Callable[[str], Any] | None = None) -> bool:
    """:meth:`PhoneLogin.verify_code` with the default settings and an optional callback."""
    if on_verified is None:
        return _default.verify_code(code)
    login = PhoneLogin(on_verified=on_verified)  # same limits, same (per-app) store
    return login.verify_code(code)


def verified_phone() -> str | None:
    """The E.164 phone this session verified, or ``None``."""
    value = session.get(VERIFIED_KEY)
    return value if isinstance(value, str) else None


def clear_login() -> None:
    """Forget the login in progress and the verification."""
    session.pop(PENDING_KEY, None)
    session.pop(VERIFIED_KEY, None)
