"""The emulator's memory: accounts, OTP sessions, sent messages and their delivery state.

One :class:`EmulatorState` per emulator, guarded by one lock, so every route may be called
from many server threads at once. Records are frozen; the delivery state of a message is
its planned outcome plus the moment it becomes visible (``status_at``), so nothing has to
be updated when time passes.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from . import ids
from .clock import format_ist, to_datetime
from .numbers import inspection_key

__all__ = [
    "Account",
    "EmulatorState",
    "MessageRecord",
    "OTPSession",
    "OutcomePicker",
    "VerifyResult",
]

PENDING = "PENDING"
#: Messages kept by default; older ones are forgotten, oldest first.
DEFAULT_MAX_MESSAGES = 100_000
#: Seconds an expired (or used) OTP session is kept, so verifying it answers "OTP Expired"
#: rather than "No Entry Exists"; after that it is forgotten.
SESSION_GRACE = 600.0


@dataclass(slots=True)
class Account:
    """A 2Factor account: its API key, the secret key of the encrypted endpoints, the URL
    delivery reports of its messages are POSTed to (``None``: the emulator's own), and
    whether it is in sandbox mode (the reference's "Sandbox / Testing" section: dummy
    answers, nothing delivered; see ``docs/emulator.md``)."""

    api_key: str
    secret_key: str
    label: str
    callback_url: str | None = None
    sandbox: bool = False

    def __repr__(self) -> str:
        return f"Account(label={self.label!r}, api_key=<redacted>, secret_key=<redacted>)"


@dataclass(slots=True)
class OTPSession:
    """One OTP sent through a V1 endpoint."""

    session_id: str
    account: str
    phone: str
    otp: str
    expires_at: float
    used: bool = False


class VerifyResult(Enum):
    """What a verification found."""

    MATCHED = "OTP Matched"
    MISMATCH = "OTP Mismatch"
    EXPIRED = "OTP Expired"
    NO_ENTRY = "Invalid API / SessionId Combination - No Entry Exists"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message to one recipient, as the emulator received it.

    ``kind`` is ``"otp"`` (V1), ``"transactional"`` / ``"promotional"`` (R1) or ``"bulk"``.
    ``to`` is E.164. ``outcome`` is the delivery status the message will reach at
    ``status_at`` (epoch seconds); before that its status is ``PENDING``.
    """

    id: str
    kind: str
    to: str
    account: str
    time: float
    sender: str = ""
    text: str = ""
    otp: str | None = None
    template: str | None = None
    scheduled_for: float | None = None
    pe_id: str | None = None
    ct_id: str | None = None
    campaign_name: str | None = None
    campaign_webhook: str | None = None
    shorten_url: bool = False
    shorten_url_webhook: str | None = None
    shorten_url_callback: str | None = None
    callback_value1: str | None = None
    callback_value2: str | None = None
    callback_format: str | None = None
    encrypted: bool = False
    outcome: str = "DELIVERED"
    status_at: float = 0.0
    callback_url: str | None = None

    @property
    def sent_at(self) -> float:
        """When the message went (or goes) out: the schedule time, or when it was received."""
        return self.scheduled_for if self.scheduled_for is not None else self.time

    def status(self, now: float | None = None) -> str:
        """The delivery status at ``now``: ``PENDING`` until ``status_at``, then the outcome."""
        moment = time.time() if now is None else now
        return self.outcome if moment >= self.status_at else PENDING

    def to_dict(self) -> dict[str, Any]:
        """The record as the inspection API returns it (times as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "to": self.to,
            "sender": self.sender,
            "text": self.text,
            "otp": self.otp,
            "template": self.template,
            "time": to_datetime(self.time).isoformat(),
            "scheduled_for": (
                to_datetime(self.scheduled_for).isoformat() if self.scheduled_for else None
            ),
            "pe_id": self.pe_id,
            "ct_id": self.ct_id,
            "campaign_name": self.campaign_name,
            "campaign_webhook": self.campaign_webhook,
            "shorten_url": self.shorten_url,
            "shorten_url_webhook": self.shorten_url_webhook,
            "shorten_url_callback": self.shorten_url_callback,
            "callback_value1": self.callback_value1,
            "callback_value2": self.callback_value2,
            "callback_format": self.callback_format,
            "encrypted": self.encrypted,
            "status": self.status(),
            "sent_at": format_ist(self.sent_at),
            "status_at": format_ist(self.status_at),
        }


#: The delivery statuses 2Factor reports, which the emulator can be told to produce.
OUTCOMES = (
    "DELIVERED",
    "FAILED",
    "UNDELIVERED",
    "REJECTED",
    "DLT-CNT-REJECT",
    "DLT-HEADER-REJECT",
    "EXPIRED",
    "PENDING",
    "SENT",
)


def check_outcome(status: object) -> str:
    """``status`` if it is one of :data:`OUTCOMES`.

    :raises ValueError: naming the status and the accepted ones.
    """
    if status not in OUTCOMES:
        raise ValueError(f"unknown delivery status {status!r}: one of {', '.join(OUTCOMES)}")
    return str(status)


class OutcomePicker:
    """Draws delivery outcomes from a weighted mix with a seeded RNG; per-number overrides
    win. With a single-outcome mix and no overrides it costs one dict lookup per message."""

    def __init__(self, outcomes: Mapping[str, float] | None = None, seed: int | None = None):
        self._rng = random.Random(seed)
        self._overrides: dict[str, str] = {}
        self.set_mix(outcomes or {"DELIVERED": 1.0})

    def set_mix(self, outcomes: Mapping[str, float]) -> None:
        """Replace the weighted mix, e.g. ``{"DELIVERED": 0.9, "FAILED": 0.1}``.

        :raises ValueError: a status 2Factor does not report (see :data:`OUTCOMES`).
        """
        for status in outcomes:
            check_outcome(status)
        mix = {status: float(weight) for status, weight in outcomes.items() if weight > 0}
        if not mix:
            raise ValueError("outcomes need at least one status with a positive weight")
        self._statuses = list(mix)
        self._weights = list(mix.values())
        self._only = self._statuses[0] if len(self._statuses) == 1 else None

    def override(self, phone: str, status: str | None) -> None:
        """Force the outcome for one number (any typed form); ``None`` removes it."""
        key = inspection_key(phone)
        if status is None:
            self._overrides.pop(key, None)
        else:
            self._overrides[key] = check_outcome(status)

    def clear_overrides(self) -> None:
        """Forget every per-number override."""
        self._overrides.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the RNG from ``seed``."""
        self._rng.seed(seed)

    def pick(self, e164: str) -> str:
        """The outcome of one message to ``e164``."""
        if self._overrides:
            forced = self._overrides.get(e164)
            if forced is not None:
                return forced
        if self._only is not None:
            return self._only
        return self._rng.choices(self._statuses, self._weights)[0]


class EmulatorState:
    """Accounts, OTP sessions and messages, shared by every server thread.

    :param otp_ttl: seconds an OTP stays valid.
    :param delivery_delay: seconds between sending and the delivery status.
    :param outcomes: weighted delivery outcomes (default all ``DELIVERED``).
    :param seed: seed of the outcome RNG.
    :param max_messages: messages kept (and OTP sessions); beyond it the oldest are
        forgotten, in O(1) per message.
    """

    def __init__(
        self,
        *,
        otp_ttl: float = 180.0,
        delivery_delay: float = 0.05,
        outcomes: Mapping[str, float] | None = None,
        seed: int | None = None,
        max_messages: int = DEFAULT_MAX_MESSAGES,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.otp_ttl = otp_ttl
        self.delivery_delay = delivery_delay
        self.seed = seed
        self.max_messages = max_messages
        self.outcomes = OutcomePicker(outcomes, seed)
        self.callback_url: str | None = None
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._by_secret: dict[str, Account] = {}
        self._by_label: dict[str, Account] = {}
        self._secrets: tuple[str, ...] = ()
        self._sessions: dict[str, OTPSession] = {}
        self._session_order: deque[str] = deque()
        self._latest_session: dict[tuple[str, str], str] = {}
        self._messages: deque[MessageRecord] = deque()
        # key -> records oldest first; _dropped[key] leading entries are already forgotten
        # (cut off in one go once they are half the list: O(1) amortised per message).
        self._by_phone: dict[str, list[MessageRecord]] = {}
        self._by_id: dict[str, list[MessageRecord]] = {}
        self._dropped_phone: dict[str, int] = {}
        self._dropped_id: dict[str, int] = {}

    # ------------------------------------------------------------------ accounts

    def add_account(
        self,
        api_key: str,
        secret_key: str | None = None,
        *,
        callback_url: str | None = None,
        sandbox: bool = False,
    ) -> Account:
        """Register an account (replacing one with the same API key)."""
        if not api_key:
            raise ValueError("api_key must not be empty")
        with self._lock:
            old = self._accounts.get(api_key)
            label = old.label if old else f"account-{len(self._by_label) + 1}"
            account = Account(
                api_key, secret_key or ids.new_secret_key(), label, callback_url, bool(sandbox)
            )
            if old is not None:
                self._by_secret.pop(old.secret_key, None)
            self._accounts[api_key] = account
            self._by_secret[account.secret_key] = account
            self._by_label[label] = account
            self._secrets = _secret_forms(self._accounts.values())
            return account

    def secrets(self) -> tuple[str, ...]:
        """Every account's API key and secret key (and their percent-encoded forms), longest
        first: what a log line must never show."""
        return self._secrets

    def account(self, api_key: str) -> Account | None:
        """The account of an API key, if any (compared in constant time per account)."""
        with self._lock:
            found = self._accounts.get(api_key)
        if found is not None and secrets.compare_digest(found.api_key, api_key):
            return found
        return None

    def account_by_secret(self, secret_key: str) -> Account | None:
        """The account whose secret key this is, if any."""
        with self._lock:
            return self._by_secret.get(secret_key)

    def callback_url_for(self, account: Account) -> str | None:
        """Where delivery reports of ``account`` go: its own URL, else the emulator's."""
        return account.callback_url or self.callback_url

    # ------------------------------------------------------------------ OTP sessions

    def open_session(self, account: Account, phone: str, otp: str) -> OTPSession:
        """Record an OTP sent to ``phone`` and return its new session."""
        now = time.time()
        session = OTPSession(ids.new_session_id(), account.label, phone, otp, now + self.otp_ttl)
        with self._lock:
            self._sessions[session.session_id] = session
            self._session_order.append(session.session_id)
            self._latest_session[(account.label, phone)] = session.session_id
            self._prune_sessions(now)
        return session

    def _prune_sessions(self, now: float) -> None:
        """Forget the oldest sessions while there are too many or they expired long ago.

        Sessions are opened in time order, so the oldest is at the head: each call looks at
        the head only until it finds one to keep (O(1) amortised per session).
        """
        order = self._session_order
        sessions = self._sessions
        while order:
            session = sessions.get(order[0])
            if (
                session is not None
                and len(sessions) <= self.max_messages
                and session.expires_at + SESSION_GRACE > now
            ):
                return
            order.popleft()
            if session is None:
                continue
            del sessions[session.session_id]
            key = (session.account, session.phone)
            if self._latest_session.get(key) == session.session_id:
                del self._latest_session[key]

    def verify_session(self, account: Account, session_id: str, otp: str) -> VerifyResult:
        """Check ``otp`` against a session; a match uses the session up."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.account != account.label:
                return VerifyResult.NO_ENTRY
            return self._check(session, otp)

    def verify_phone(self, account: Account, phone: str, otp: str) -> VerifyResult:
        """Check ``otp`` against the latest session of ``phone`` (VERIFY3)."""
        with self._lock:
            session_id = self._latest_session.get((account.label, phone))
            session = self._sessions.get(session_id) if session_id else None
            if session is None:
                return VerifyResult.MISMATCH
            return self._check(session, otp)

    @staticmethod
    def _check(session: OTPSession, otp: str) -> VerifyResult:
        if session.used or time.time() > session.expires_at:
            return VerifyResult.EXPIRED
        if not secrets.compare_digest(session.otp, otp):
            return VerifyResult.MISMATCH
        session.used = True
        return VerifyResult.MATCHED

    # ------------------------------------------------------------------ messages

    def record(self, records: Iterable[MessageRecord]) -> list[MessageRecord]:
        """File sent messages under their number and id; returns them as a list."""
        batch = list(records)
        with self._lock:
            self._messages.extend(batch)
            by_phone = self._by_phone
            by_id = self._by_id
            for rec in batch:
                phone_list = by_phone.get(rec.to)
                if phone_list is None:
                    by_phone[rec.to] = [rec]
                else:
                    phone_list.append(rec)
                id_list = by_id.get(rec.id)
                if id_list is None:
                    by_id[rec.id] = [rec]
                else:
                    id_list.append(rec)
            excess = len(self._messages) - self.max_messages
            if excess > 0:
                self._forget_oldest(excess)
        return batch

    def _forget_oldest(self, count: int) -> None:
        """Drop the ``count`` oldest messages from the log and both indexes (lock held)."""
        popleft = self._messages.popleft
        by_phone, dropped_phone = self._by_phone, self._dropped_phone
        by_id, dropped_id = self._by_id, self._dropped_id
        for _ in range(count):
            old = popleft()
            # the common case inline: the only record of its number / id
            key = old.to
            if len(by_phone[key]) == 1:
                del by_phone[key]
            else:
                _drop_first(by_phone, dropped_phone, key)
            key = old.id
            if len(by_id[key]) == 1:
                del by_id[key]
            else:
                _drop_first(by_id, dropped_id, key)

    def messages(self, phone: str | None = None) -> list[MessageRecord]:
        """Every message, or those to ``phone`` (any typed form), oldest first."""
        with self._lock:
            if phone is None:
                return list(self._messages)
            key = inspection_key(phone)
            return self._by_phone.get(key, [])[self._dropped_phone.get(key, 0) :]

    def messages_by_id(self, message_id: str) -> list[MessageRecord]:
        """The records of one id (an R1 id covers every recipient of the request)."""
        with self._lock:
            return self._by_id.get(message_id, [])[self._dropped_id.get(message_id, 0) :]

    def last_otp(self, phone: str) -> str | None:
        """The OTP most recently sent to ``phone`` (any typed form), or ``None``."""
        for rec in reversed(self.messages(phone)):
            if rec.otp is not None:
                return rec.otp
        return None

    def reset(self) -> None:
        """Forget sessions, messages and outcome overrides; keep accounts."""
        with self._lock:
            self._sessions.clear()
            self._session_order.clear()
            self._latest_session.clear()
            self._messages.clear()
            self._by_phone.clear()
            self._by_id.clear()
            self._dropped_phone.clear()
            self._dropped_id.clear()
            self.outcomes.clear_overrides()
            self.outcomes.reseed(self.seed)

    def session_count(self) -> int:
        """OTP sessions currently kept."""
        with self._lock:
            return len(self._sessions)


def _drop_first(index: dict[str, list[MessageRecord]], dropped: dict[str, int], key: str) -> None:
    """Forget the oldest record filed under ``key``.

    Short lists lose their head at once; long ones (a number that got thousands of
    messages) count dropped heads and cut them off together when they are half the list,
    so no single message costs more than O(1) amortised.
    """
    records = index.get(key)
    if records is None:
        return
    skip = dropped.get(key, 0) + 1
    if skip >= len(records):
        del index[key]
        dropped.pop(key, None)
    elif skip * 2 >= len(records) or len(records) <= 16:
        del records[:skip]
        dropped.pop(key, None)
    else:
        dropped[key] = skip


def _secret_forms(accounts: Iterable[Account]) -> tuple[str, ...]:
    forms: set[str] = set()
    for account in accounts:
        for value in (account.api_key, account.secret_key):
            if value:
                forms.add(value)
                forms.add(quote(value, safe=""))
    return tuple(sorted(forms, key=len, reverse=True))
