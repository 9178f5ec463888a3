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
        if phone_login.verify_code(request.form["code"]):
            return redirect(url_for("home"))
        flash("Wrong or expired code")
        return redirect(url_for("enter_code"))

What is kept in ``flask.session`` (signed, not encrypted, with Flask's default sessions) is
the phone number, 2Factor's session id and an attempt counter — never the OTP: 2Factor
verifies the code. Throttling works at two levels: per browser session (wrong codes per
sent code, a pause between sends) and per phone number across sessions, in a small
:class:`AttemptStore` (in-process by default), because a client can always drop its cookie.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from flask import current_app, session

from twofactor_notify.errors import InvalidInputError, RateLimitedError
from twofactor_notify.models import OTPSent, VerificationOutcome
from twofactor_notify.phone import normalize_phone

from .extension import get_state

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


class AttemptStore(Protocol):
    """Counts events per key in a sliding window; shareable across processes (Redis, …)."""

    def hit(self, key: str, window: float) -> int:
        """Record one event for ``key``; return how many happened within ``window`` seconds."""
        ...

    def count(self, key: str, window: float) -> int:
        """How many events for ``key`` happened within the last ``window`` seconds."""
        ...

    def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        ...


class MemoryAttemptStore:
    """An in-process :class:`AttemptStore` (per worker process), bounded to ``max_keys``."""

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, window: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        self._events.move_to_end(key)
        horizon = self._clock() - window
        while events and events[0] <= horizon:
            events.popleft()
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return events

    def hit(self, key: str, window: float) -> int:
        """Record one event for ``key``; return the count within ``window``."""
        with self._lock:
            events = self._recent(key, window)
            events.append(self._clock())
            return len(events)

    def count(self, key: str, window: float) -> int:
        """The count of events for ``key`` within ``window``."""
        with self._lock:
            return len(self._recent(key, window))

    def reset(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._events.pop(key, None)


class PhoneLogin:
    """Request an OTP for a phone, verify it, and mark the Flask session.

    :param on_verified: called with the verified E.164 phone after a match (e.g. a function
        calling ``flask_login.login_user``); returning ``False`` refuses the login.
    :param template: OTP template (default ``TWOFACTOR_OTP_TEMPLATE``).
    :param max_attempts: wrong codes allowed per sent code; then a new code is needed.
    :param resend_interval: seconds a session waits between two code requests.
    :param max_sends: codes one phone may be sent per ``window`` (across sessions).
    :param max_failures: wrong codes one phone may receive per ``window`` (across sessions).
    :param window: the per-phone window, in seconds.
    :param store: where the per-phone counts live (default in-process).
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
        self.store: AttemptStore = store if store is not None else MemoryAttemptStore()

    def __repr__(self) -> str:
        return f"PhoneLogin(max_attempts={self.max_attempts}, max_sends={self.max_sends})"

    # ------------------------------------------------------------------ flow

    def request_code(self, phone: str) -> OTPSent:
        """Send a code to ``phone`` and remember the login in progress in the session.

        Replaces a login in progress and clears an earlier verification.

        :raises LoginThrottledError: asked again too soon, or too many codes for the phone.
        :raises InvalidPhoneNumberError: ``phone`` is not a valid number.
        """
        state = get_state()
        e164 = normalize_phone(phone, region=state.config.region)
        pending = session.get(PENDING_KEY)
        now = time.time()
        if isinstance(pending, dict):
            waited = now - float(pending.get("sent_at", 0.0))
            if 0 <= waited < self.resend_interval:
                raise LoginThrottledError(
                    "a code was sent moments ago; wait before asking again",
                    retry_after=self.resend_interval - waited,
                )
        if self.store.count(self._key("send", e164), self.window) >= self.max_sends:
            raise LoginThrottledError(
                "too many codes were sent to this number; try again later",
                retry_after=self.window,
            )
        failures = self.store.count(self._key("fail", e164), self.window)
        if failures >= self.max_failures:
            raise LoginThrottledError(
                "too many wrong codes for this number; try again later", retry_after=self.window
            )
        sent = state.transport.send_otp(e164, template=self.template)
        self.store.hit(self._key("send", e164), self.window)
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
        """
        pending = session.get(PENDING_KEY)
        if not isinstance(pending, dict) or not pending.get("session_id"):
            return False
        phone = str(pending["phone"])
        attempts = int(pending.get("attempts", 0))
        if attempts >= self.max_attempts or (
            self.store.count(self._key("fail", phone), self.window) >= self.max_failures
        ):
            session.pop(PENDING_KEY, None)
            return False
        pending = {**pending, "attempts": attempts + 1}
        session[PENDING_KEY] = pending
        try:
            result = get_state().transport.verify_otp(code, session_id=str(pending["session_id"]))
        except InvalidInputError:  # not 4-6 digits: never reaches 2Factor, still an attempt
            return self._failed(phone, drop=attempts + 1 >= self.max_attempts)
        if not result:
            gone = result.outcome in (
                VerificationOutcome.EXPIRED,
                VerificationOutcome.UNKNOWN_SESSION,
            )
            return self._failed(phone, drop=gone or attempts + 1 >= self.max_attempts)
        session.pop(PENDING_KEY, None)
        self.store.reset(self._key("fail", phone))
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

    def _failed(self, phone: str, *, drop: bool) -> bool:
        self.store.hit(self._key("fail", phone), self.window)
        if drop:  # used up, expired or unknown: a new code is needed
            session.pop(PENDING_KEY, None)
        return False

    def _key(self, kind: str, phone: str) -> str:
        return f"{current_app.import_name}:{kind}:{phone}"


_default = PhoneLogin()


def request_code(phone: str) -> OTPSent:
    """:meth:`PhoneLogin.request_code` with the default settings."""
    return _default.request_code(phone)


def verify_code(code: str, on_verified: Callable[[str], Any] | None = None) -> bool:
    """:meth:`PhoneLogin.verify_code` with the default settings and an optional callback."""
    if on_verified is None:
        return _default.verify_code(code)
    login = PhoneLogin(on_verified=on_verified, store=_default.store)
    return login.verify_code(code)


def verified_phone() -> str | None:
    """The E.164 phone this session verified, or ``None``."""
    value = session.get(VERIFIED_KEY)
    return value if isinstance(value, str) else None


def clear_login() -> None:
    """Forget the login in progress and the verification."""
    session.pop(PENDING_KEY, None)
    session.pop(VERIFIED_KEY, None)
