"""The POSTs the emulator makes to its users: delivery reports and link clicks.

Payload shapes follow the reference: the bulk webhook payload for delivery reports (JSON, or
``application/x-www-form-urlencoded`` when the message asked for ``raw-url-encoded``), and
the click-tracking form body (``accessed``, ``phoneNo``, ``campaignName``, ``ip``), written
as the reference shows it: ``accessed=2024-11-29 14:30:00&phoneNo=...``, its values left
readable (see :func:`reference_form`).

:class:`CallbackPoster` sends them from a few worker threads fed by a bounded queue. Every
attempt, good or bad, lands in :meth:`CallbackPoster.attempts`; nothing it does can crash
the server.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from twofactor_notify.redaction import library_logger

from .clock import format_ist
from .numbers import national_form
from .state import MessageRecord

__all__ = [
    "Callback",
    "CallbackPoster",
    "DeliveryAttempt",
    "click_payload",
    "delivery_payload",
    "reference_form",
]

log = library_logger("twofactor_notify.emulator.callbacks")

#: Printable ASCII that a form body may carry as is: everything but the characters a form
#: parser gives a meaning to (``&`` and ``=`` split, ``+`` is a space, ``%`` escapes).
_FORM_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "%&=+")

#: Name of the extra click-payload field carrying the message's ``shortenurlcallback``.
CLICK_CALLBACK_FIELD = "shortenurlcallback"


def delivery_payload(record: MessageRecord) -> dict[str, str]:
    """The webhook payload of one delivery report (the reference's bulk webhook shape)."""
    return {
        "SessionId": record.id,
        "SmsFrom": record.sender,
        "SmsTo": national_form(record.to),
        "SmsStatus": record.outcome,
        "SentAt": format_ist(record.sent_at),
        "StatusAt": format_ist(record.status_at),
        "callback_value1": record.callback_value1 or "",
        "callback_value2": record.callback_value2 or "",
    }


def click_payload(record: MessageRecord, ip: str, accessed: float | None = None) -> dict[str, str]:
    """The form fields of a click on a tracked link of ``record``."""
    payload = {
        "accessed": format_ist(time.time() if accessed is None else accessed),
        "phoneNo": national_form(record.to),
        "campaignName": record.campaign_name or "",
        "ip": ip,
    }
    if record.shorten_url_callback:
        payload[CLICK_CALLBACK_FIELD] = record.shorten_url_callback
    return payload


def reference_form(payload: dict[str, str]) -> str:
    """``payload`` as a form body the way the reference's click example is written.

    The reference's example payload is
    ``accessed=2024-11-29 14:30:00&phoneNo=9876543210&campaignName=PromoCampaign&ip=192.168.1.1``:
    spaces and colons as they are, not ``2024-11-29+14%3A30%3A00``. Only what would change
    how a form parser splits or decodes the body is percent-encoded (``%``, ``&``, ``=``,
    ``+``, control characters and non-ASCII as UTF-8), so any form parser reads back the
    exact values.
    """
    return "&".join(
        f"{quote(key, safe=_FORM_SAFE)}={quote(value, safe=_FORM_SAFE)}"
        for key, value in payload.items()
    )


@dataclass(frozen=True, slots=True)
class Callback:
    """One POST to make: ``form`` sends url-encoded fields, else JSON. A ``body`` given
    is sent as it is (a form body already written, see :func:`reference_form`)."""

    kind: str
    url: str
    payload: dict[str, str]
    form: bool = False
    generation: int = 0
    body: str | None = None


def shown_url(url: str) -> str:
    """``url`` without its query string, which usually carries the webhook's shared token."""
    base, sep, _ = url.partition("?")
    return f"{base}?<redacted>" if sep else base


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """The outcome of one callback POST: the HTTP status the receiver answered, or the error.

    ``url`` is shown without its query string (see :func:`shown_url`).
    """

    kind: str
    url: str
    payload: dict[str, str]
    content_type: str
    status: int | None
    error: str | None
    time: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        """The attempt as the inspection API returns it."""
        return {
            "kind": self.kind,
            "url": self.url,
            "payload": self.payload,
            "content_type": self.content_type,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
            "time": self.time,
        }


_STOP = object()
#: Callback attempts kept by default (the oldest are forgotten).
DEFAULT_MAX_DELIVERIES = 10_000


class CallbackPoster:
    """Worker threads that POST queued callbacks (started on the first one).

    :param workers: number of posting threads.
    :param queue_size: callbacks that may wait; beyond it a callback is dropped and logged.
    :param timeout: seconds per POST.
    :param max_attempts: attempts kept for :meth:`attempts` (the oldest are forgotten;
        :meth:`wait` counts every attempt made).
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        queue_size: int = 100_000,
        timeout: float = 2.0,
        max_attempts: int = DEFAULT_MAX_DELIVERIES,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.workers = workers
        self.timeout = timeout
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._attempts: deque[DeliveryAttempt] = deque(maxlen=max_attempts)
        self._made = 0  # attempts since the last clear(), kept or not
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._generation = 0
        self._started = False
        self._closed = False

    @property
    def generation(self) -> int:
        """Bumped by :meth:`clear`; callbacks of older generations are dropped unsent."""
        return self._generation

    def submit(self, callback: Callback) -> bool:
        """Queue a callback; ``False`` (and a logged failure) when the queue is full, and
        ``False`` (nothing recorded) after :meth:`stop`."""
        if self._closed or not self._ensure_started():
            return False
        try:
            self._queue.put_nowait(callback)
        except queue.Full:
            self._record(callback, None, "callback queue full: dropped")
            return False
        return True

    def attempts(self) -> list[DeliveryAttempt]:
        """Every attempt so far, in completion order."""
        with self._cond:
            return list(self._attempts)

    @property
    def made(self) -> int:
        """Attempts made since the last :meth:`clear` (including those no longer kept)."""
        with self._cond:
            return self._made

    def wait(self, count: int, timeout: float = 5.0) -> list[DeliveryAttempt]:
        """Block until at least ``count`` attempts were made; :class:`TimeoutError` if not.

        Returns the attempts kept (at most ``max_attempts``, the latest).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._made < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self._made} callback(s) made within {timeout}s, expected {count}"
                    )
                self._cond.wait(remaining)
            return list(self._attempts)

    def clear(self) -> None:
        """Forget attempts and drop queued or in-flight callbacks."""
        with self._cond:
            self._generation += 1
            self._attempts.clear()
            self._made = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put_nowait(item)
                break

    def open(self) -> None:
        """Accept callbacks again after :meth:`stop` (workers start on the next one)."""
        with self._cond:
            self._closed = False

    def stop(self) -> None:
        """Stop the workers (queued callbacks are dropped); later callbacks are refused
        until :meth:`open`."""
        with self._cond:
            threads, self._threads = self._threads, []
            self._started = False
            self._closed = True
            self._generation += 1
        for _ in threads:
            try:
                self._queue.put(_STOP, timeout=1.0)
            except queue.Full:
                break
        for thread in threads:
            thread.join(timeout=self.timeout + 1.0)

    def _ensure_started(self) -> bool:
        if self._started:
            return True
        with self._cond:
            if self._closed:
                return False
            if self._started:
                return True
            self._started = True
            for n in range(self.workers):
                thread = threading.Thread(
                    target=self._work, name=f"2factor-emulator-callbacks-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return True

    def _work(self) -> None:
        session = requests.Session()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if isinstance(item, Callback) and item.generation == self._generation:
                    self._post(session, item)
        finally:
            session.close()

    def _post(self, session: requests.Session, callback: Callback) -> None:
        try:
            if callback.body is not None:
                answer = session.post(
                    callback.url,
                    data=callback.body.encode("utf-8"),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    timeout=self.timeout,
                )
            elif callback.form:
                answer = session.post(callback.url, data=callback.payload, timeout=self.timeout)
            else:
                answer = session.post(callback.url, json=callback.payload, timeout=self.timeout)
            answer.close()
        except Exception as exc:  # the receiver's problems must never reach the server
            # Only the class name: requests' messages embed the URL, and with it the token.
            log.info("callback POST to %s failed: %s", shown_url(callback.url), type(exc).__name__)
            self._record(callback, None, type(exc).__name__)
            return
        log.debug("callback POST to %s answered %s", shown_url(callback.url), answer.status_code)
        self._record(callback, answer.status_code, None)

    def _record(self, callback: Callback, status: int | None, error: str | None) -> None:
        content_type = "application/x-www-form-urlencoded" if callback.form else "application/json"
        attempt = DeliveryAttempt(
            callback.kind, shown_url(callback.url), callback.payload, content_type, status, error
        )
        with self._cond:
            if callback.generation != self._generation:
                return
            self._attempts.append(attempt)
            self._made += 1
            self._cond.notify_all()
