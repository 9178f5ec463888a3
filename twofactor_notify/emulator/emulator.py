"""The :class:`Emulator`: a stateful local 2Factor.in, served over HTTP from a thread."""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from twofactor_notify.redaction import library_logger

from . import ids
from .callbacks import DEFAULT_MAX_DELIVERIES, CallbackPoster, DeliveryAttempt
from .context import Context
from .delivery import DeliveryScheduler
from .faults import Fault, FaultBook
from .numbers import inspection_key
from .requestlog import RequestLog, RequestLogEntry, redact
from .router import route
from .routes import inspection
from .server import EmulatorHTTPServer
from .state import DEFAULT_MAX_MESSAGES, Account, EmulatorState, MessageRecord
from .wire import Request, Response

__all__ = ["Emulator"]

log = library_logger("twofactor_notify.emulator")

JSON = "application/json"
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=[^\x00-\x1f\x7f;]*)*")


def checked_media_type(value: str) -> str:
    """``value`` if it is a media type that may go into a header line, else ValueError."""
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        raise ValueError(
            "json_content_type must be a media type such as application/json or "
            "text/html; charset=utf-8"
        )
    return value


class Emulator:
    """A local, stateful 2Factor.in: same paths, answers and error strings as the reference.

    >>> with Emulator() as emu:
    ...     base_url, api_key = emu.url, emu.api_key

    :param host: interface to bind (default loopback only).
    :param port: TCP port; 0 picks a free one (see :attr:`url` after :meth:`start`).
    :param api_key: API key of the default account (random, UUID-like, when omitted).
    :param secret_key: its secret key for the encrypted endpoints (random when omitted).
    :param otp_ttl: seconds an OTP stays valid (default 180).
    :param latency_ms: added to every API answer.
    :param callback_url: where delivery reports are POSTed (settable later).
    :param delivery_delay: seconds from sending to the delivery status and its report.
    :param outcomes: weighted delivery outcomes, e.g. ``{"DELIVERED": 0.9, "FAILED": 0.1}``.
    :param seed: seeds the outcome and fault-rate RNGs (reproducible runs).
    :param sandbox_style_success: answer matched OTPs ``"Status": "Success"`` (the sandbox
        section) instead of the reference example's ``"Status": "Error"``.
    :param json_content_type: the ``Content-Type`` of the API's JSON answers (default
        ``application/json``); e.g. ``application/x-www-form-urlencoded`` or ``text/html``
        to test a client against what the reference's saved R1 headers list (see
        :attr:`json_content_type`).
    :param sandbox: put the default account in sandbox mode, as the reference's sandbox
        section describes it (dummy answers, nothing delivered; see :attr:`sandbox`).
    :param callback_timeout: seconds per callback POST.
    :param callback_workers: threads posting callbacks.
    :param callback_queue_size: callbacks that may wait before new ones are dropped.
    :param request_log_size: request log entries kept.
    :param max_messages: messages kept for inspection (and OTP sessions); beyond it the
        oldest are forgotten. Memory stays bounded however many messages go through.
    :param max_deliveries: callback attempts kept for :attr:`deliveries` (the oldest are
        forgotten; :meth:`wait_for_deliveries` counts every attempt).
    :param allowed_hosts: host names, besides ``localhost`` and IP addresses, that the
        ``Host`` header may carry (e.g. a container's service name); see
        :mod:`~twofactor_notify.emulator.server` for why the header is checked.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        secret_key: str | None = None,
        otp_ttl: float = 180.0,
        latency_ms: float = 0.0,
        callback_url: str | None = None,
        delivery_delay: float = 0.05,
        outcomes: Mapping[str, float] | None = None,
        seed: int | None = None,
        sandbox_style_success: bool = False,
        callback_timeout: float = 2.0,
        callback_workers: int = 2,
        callback_queue_size: int = 100_000,
        request_log_size: int = 10_000,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        allowed_hosts: Iterable[str] = (),
        sandbox: bool = False,
        json_content_type: str = JSON,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.seed = seed
        self.allowed_hosts: Collection[str] = frozenset(
            name.strip().lower().rstrip(".") for name in allowed_hosts
        )
        self._json_content_type = checked_media_type(json_content_type)
        self.faults = FaultBook(seed)
        self.stopping = threading.Event()
        self._state = EmulatorState(
            otp_ttl=otp_ttl,
            delivery_delay=delivery_delay,
            outcomes=outcomes,
            seed=seed,
            max_messages=max_messages,
        )
        self._state.callback_url = callback_url
        self._poster = CallbackPoster(
            workers=callback_workers,
            queue_size=callback_queue_size,
            timeout=callback_timeout,
            max_attempts=max_deliveries,
        )
        self._scheduler = DeliveryScheduler(self._poster)
        self._ctx = Context(self._state, self._scheduler, sandbox_style_success)
        self._log = RequestLog(request_log_size)
        self._default = self._state.add_account(
            api_key or ids.new_api_key(), secret_key, sandbox=sandbox
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._initial_settings: dict[str, Any] = {
            "otp_ttl": otp_ttl,
            "latency_ms": latency_ms,
            "callback_url": callback_url,
            "delivery_delay": delivery_delay,
            "sandbox_style_success": sandbox_style_success,
            "sandbox": bool(sandbox),
            "json_content_type": self._json_content_type,
        }
        self._initial_outcomes = dict(outcomes) if outcomes else {"DELIVERED": 1.0}

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<Emulator {where}>"

    # ------------------------------------------------------------------ settings

    @property
    def api_key(self) -> str:
        """API key of the default account."""
        return self._default.api_key

    @property
    def secret_key(self) -> str:
        """Secret key of the default account (the encrypted endpoints' ``Secret-Key``)."""
        return self._default_account().secret_key

    def _default_account(self) -> Account:
        """The default account as it is now (``add_account`` with its key replaces it)."""
        return self._state.account(self._default.api_key) or self._default

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def callback_url(self) -> str | None:
        """Where delivery reports go unless an account has its own URL; settable any time
        (messages sent afterwards are reported there)."""
        return self._state.callback_url

    @callback_url.setter
    def callback_url(self, value: str | None) -> None:
        self._state.callback_url = value

    @property
    def otp_ttl(self) -> float:
        """Seconds an OTP stays valid; settable."""
        return self._state.otp_ttl

    @otp_ttl.setter
    def otp_ttl(self, value: float) -> None:
        self._state.otp_ttl = value

    @property
    def delivery_delay(self) -> float:
        """Seconds from sending to the delivery status; settable."""
        return self._state.delivery_delay

    @delivery_delay.setter
    def delivery_delay(self, value: float) -> None:
        self._state.delivery_delay = value

    @property
    def sandbox_style_success(self) -> bool:
        """Whether a matched OTP answers ``"Status": "Success"``; settable."""
        return self._ctx.sandbox_style_success

    @sandbox_style_success.setter
    def sandbox_style_success(self, value: bool) -> None:
        self._ctx.sandbox_style_success = value

    @property
    def json_content_type(self) -> str:
        """The ``Content-Type`` the API's JSON answers carry (default ``application/json``);
        settable. Only the header changes, the body stays the same JSON; the encrypted
        endpoints' Base64 answers (``text/plain``), fault answers and the inspection API keep
        theirs.

        :raises ValueError: not a ``type/subtype`` media type (parameters allowed) on one line.
        """
        return self._json_content_type

    @json_content_type.setter
    def json_content_type(self, value: str) -> None:
        self._json_content_type = checked_media_type(value)

    @property
    def sandbox(self) -> bool:
        """Whether the default account is in sandbox mode; settable.

        In sandbox mode the account gets the answers of the reference's "Sandbox / Testing"
        section: every OTP send answers ``"Status": "Success"`` with a new random session id
        of the section's form (``mf2djpsmqnrwmwob7z-978c24505cf48a13``, plus ``"OTP"`` for
        AUTOGEN2); VERIFY answers ``"OTP Mismatch"`` except for ``Dummy-12345/12345``;
        VERIFY2 and VERIFY3 always ``"OTP Mismatch"``; all with HTTP 200. Nothing is
        recorded or delivered, R1 and bulk sends included (they are still checked and
        answered as in production). Other accounts: :meth:`set_sandbox`.
        """
        return self._default_account().sandbox

    @sandbox.setter
    def sandbox(self, value: bool) -> None:
        self._default_account().sandbox = bool(value)

    def set_sandbox(self, enabled: bool = True, *, api_key: str | None = None) -> Account:
        """Put an account (the default one unless ``api_key`` is given) in or out of sandbox
        mode (see :attr:`sandbox`); returns it.

        :raises LookupError: no account has that API key.
        """
        account = self._default_account() if api_key is None else self._state.account(api_key)
        if account is None:
            raise LookupError("no account has this API key")
        account.sandbox = bool(enabled)
        return account

    def add_account(
        self,
        api_key: str,
        secret_key: str | None = None,
        *,
        callback_url: str | None = None,
        sandbox: bool = False,
    ) -> Account:
        """Add an account (a random secret key when none is given); returns it. With
        ``sandbox=True`` it is in sandbox mode (see :attr:`sandbox`)."""
        return self._state.add_account(
            api_key, secret_key, callback_url=callback_url, sandbox=sandbox
        )

    def set_outcomes(self, outcomes: Mapping[str, float]) -> None:
        """Replace the weighted mix of delivery outcomes."""
        self._state.outcomes.set_mix(outcomes)

    def set_outcome(self, phone: str, status: str | None) -> None:
        """Force the delivery outcome of messages to ``phone`` (any typed form), e.g.
        ``"UNDELIVERED"``; ``None`` removes the override. Cleared by :meth:`reset`."""
        self._state.outcomes.override(phone, status)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        """Bind and serve from a background thread; returns ``self``."""
        if self._server is not None:
            return self
        self.stopping = threading.Event()
        self._server = EmulatorHTTPServer((self.host, self.port), self)
        self._poster.open()
        self._scheduler.open()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="2factor-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("2Factor emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection (kept-alive
        ones too), stop the callback threads; callbacks are refused until :meth:`start`."""
        server, self._server = self._server, None
        self.stopping.set()
        if server is not None:
            server.shutdown()
            server.close_connections(timeout=2.0)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._scheduler.stop()
        self._poster.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve from the calling thread until :meth:`stop` (used by the standalone process)."""
        self.start()
        self.stopping.wait()

    # ------------------------------------------------------------------ inspection

    def messages(self, phone: str | None = None) -> list[MessageRecord]:
        """Messages received, oldest first; only those to ``phone`` (any typed form) if given."""
        return self._state.messages(phone)

    def last_otp(self, phone: str) -> str | None:
        """The OTP last sent to ``phone`` (``9876543210``, ``+919876543210``...), or ``None``."""
        return self._state.last_otp(phone)

    @property
    def requests(self) -> list[RequestLogEntry]:
        """API requests answered, oldest first (API keys redacted)."""
        return self._log.entries()

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Callback POSTs made (delivery reports and clicks), in completion order; the latest
        ``max_deliveries`` only."""
        return self._poster.attempts()

    def wait_for_deliveries(self, count: int, timeout: float = 5.0) -> list[DeliveryAttempt]:
        """Wait until ``count`` callback POSTs were attempted (since the last reset);
        :class:`TimeoutError` if not."""
        return self._poster.wait(count, timeout)

    def reset(self, *, settings: bool = False) -> None:
        """Clear messages, OTP sessions, logs, deliveries, faults and outcome overrides.

        Accounts stay. Settings changed since construction (``otp_ttl``, ``latency_ms``,
        ``callback_url``, ``delivery_delay``, ``sandbox_style_success``,
        ``json_content_type``, the default account's ``sandbox``, the outcome mix) stay
        too, unless ``settings=True`` puts them back as the constructor had them (the pytest
        fixture does, so one test's settings never leak into the next). The outcome and
        fault-rate RNGs restart from ``seed``, so a reset run draws as a fresh one.
        """
        if settings:
            for name, value in self._initial_settings.items():
                setattr(self, name, value)
            self.set_outcomes(self._initial_outcomes)
        self._state.reset()
        self._scheduler.clear()
        self._poster.clear()
        self._log.clear()
        self.faults.clear()
        self.faults.reseed(self.seed)

    # ------------------------------------------------------------------ faults and clicks

    def inject(
        self,
        kind: str,
        *,
        times: int | None = None,
        rate: float | None = None,
        match: str | None = None,
        **params: Any,
    ) -> Fault:
        """Inject a fault (see :mod:`twofactor_notify.emulator.faults` for the kinds).

        >>> emu.inject("reset_after", times=1, match="/SMS/")        # doctest: +SKIP
        >>> emu.inject("status", status=503, rate=0.2)               # doctest: +SKIP
        """
        return self.faults.add(kind, times=times, rate=rate, match=match, **params)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def trigger_click(self, message_id_or_phone: str, *, ip: str = "203.0.113.7") -> dict[str, str]:
        """Simulate a click on the tracked link of a message: POST the click form body to its
        ``campaignwebhook`` (else ``shortenurlwebhook``). Returns the payload.

        :raises LookupError: no message with that id or number has a click webhook.
        """
        candidates = self._state.messages_by_id(message_id_or_phone)
        if not candidates:
            candidates = list(reversed(self._state.messages(inspection_key(message_id_or_phone))))
        for rec in candidates:
            url = rec.campaign_webhook or rec.shorten_url_webhook
            if url:
                return self._scheduler.click(rec, url, ip)
        raise LookupError(f"no message {message_id_or_phone!r} with a click-tracking webhook")

    # ------------------------------------------------------------------ server hooks

    def handle_api(self, request: Request) -> Response:
        """Answer an API request (called by the server threads)."""
        response = route(request, self._ctx)
        content_type = self._json_content_type
        if content_type != JSON and response.content_type == JSON:
            response = replace(response, content_type=content_type)
        return response

    def handle_inspection(self, request: Request) -> Response:
        """Answer an ``/__emulator__/`` request (called by the server threads)."""
        return inspection.handle(request, self)

    def log_generation(self) -> int:
        """The request log's generation now (called by the server threads on arrival)."""
        return self._log.generation

    def log_request(self, entry: RequestLogEntry, generation: int | None = None) -> None:
        """Keep a request log entry (called by the server threads); a request that arrived
        before the last :meth:`reset` is dropped."""
        self._log.add(entry, generation)

    def redact(self, path: str, query: str = "") -> str:
        """``path?query`` with every account's API key and secret key hidden, however the
        request spelled the path (called by the server threads before logging)."""
        return redact(path, query, self._state.secrets())
