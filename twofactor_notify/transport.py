"""The transport: the one interface every adapter sends through, and where hooks fire.

:class:`Transport` holds the hook logic; its subclasses only say how a prepared message is
delivered:

* :class:`TwoFactorTransport` wraps a :class:`~twofactor_notify.client.TwoFactorClient`;
* :class:`InMemoryTransport` keeps an ``outbox`` (for tests) and verifies its own OTPs;
* :class:`ConsoleTransport` is the in-memory one that also prints each message (OTP masked);
* :class:`FileTransport` is the in-memory one that also writes each message to a file;
* :class:`NullTransport` accepts and discards.

All of them fire ``before_send``, ``after_send`` and ``on_delivery`` the same way, so a
plugin behaves in tests as it does in production.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import json
import os
import secrets
import sys
import threading
import time
import types
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pluggy

from twofactor_notify.redaction import library_logger

from .boundary import ErrorBoundary
from .bulk import (
    collect_bulk_results,
    iter_chunk_results,
    note_positions,
    restore_positions,
    split_checked,
)
from .errors import ConfigurationError, InvalidInputError, TwoFactorError
from .hooks import _call_safely, make_plugin_manager
from .models import (
    BulkAccepted,
    BulkBatch,
    BulkMessage,
    BulkResult,
    ClickReport,
    DeliveryReport,
    Message,
    OTPMessage,
    OTPSent,
    Receipt,
    SMSMessage,
    SMSSent,
    Verification,
    VerificationOutcome,
)
from .phone import DEFAULT_REGION
from .validation import (
    MAX_BULK_CHUNK,
    check_message,
    coerce_bulk_messages,
    validate_otp_code,
    validate_otp_phone,
    validate_phone,
    validate_session_id,
)

if TYPE_CHECKING:
    from .client import TwoFactorClient

__all__ = [
    "ConsoleTransport",
    "FileTransport",
    "InMemoryTransport",
    "NullTransport",
    "Transport",
    "TwoFactorTransport",
]

logger = library_logger("twofactor_notify.transport")
_R = TypeVar("_R", OTPSent, SMSSent, BulkResult)
_BEFORE_SEND_ARGS = ("message", "transport")


class Transport(ErrorBoundary, ABC):
    """Sends messages, verifies OTPs and receives delivery reports, firing the hooks.

    Every public method, in this class and in any subclass, hands out only
    :class:`~twofactor_notify.errors.TwoFactorError` with nothing chained (see
    :mod:`twofactor_notify.boundary`).

    :param plugins: plugin objects or dotted paths, registered in order.
    :param load_entrypoints: load plugins from the ``twofactor_notify`` entry-point group
        (``None``: unless ``TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD`` is set).
    :param default_sender: sender id used when a text message names none.
    :param default_template: OTP template used when an OTP send names none.
    :param region: region assumed for phone numbers typed without a country code.
    """

    def __init__(
        self,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool | None = None,
        default_sender: str | None = None,
        default_template: str | None = None,
        region: str = DEFAULT_REGION,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.plugin_manager = plugin_manager or make_plugin_manager(
            plugins, load_entrypoints=load_entrypoints
        )
        self.default_sender = default_sender
        self.default_template = default_template
        self.region = region

    # ------------------------------------------------------------------ public API

    def send(self, message: Message) -> Receipt:
        """Send any message: check it, run ``before_send``, deliver, run ``after_send``.

        The checks (:func:`~twofactor_notify.validation.check_message`) are the same for
        every transport; a message they refuse raises :class:`InvalidInputError` before any
        hook runs, so no plugin logs it as sent. A message a ``before_send`` plugin returns
        is checked again.
        """
        return self._send_checked(self._prepare(message))

    def _send_checked(self, message: Message) -> Receipt:
        """:meth:`send` for a message that has been through :meth:`_prepare` already."""
        hook = self.plugin_manager.hook
        try:
            message = self._run_before_send(message)
        except Exception as exc:
            _call_safely(
                hook.after_send, logger, message=message, receipt=None, error=exc, transport=self
            )
            raise
        try:
            receipt = self._deliver(message)
        except Exception as exc:
            _call_safely(
                hook.after_send, logger, message=message, receipt=None, error=exc, transport=self
            )
            raise
        _call_safely(
            hook.after_send, logger, message=message, receipt=receipt, error=None, transport=self
        )
        return receipt

    def check(self, message: Message) -> Message:
        """Fill this transport's defaults into ``message`` and run the checks, as :meth:`send`
        does before ``before_send``; return the message as ``before_send`` would see it.

        For code that queues a message to send later: a refusal reaches the caller now,
        not a worker. See :func:`~twofactor_notify.validation.check_message`.

        :raises InvalidInputError: (or a subclass), ``field`` naming what was refused.
        """
        return self._prepare(message)

    def send_otp(
        self,
        to: str,
        *,
        template: str | None = None,
        otp: str | None = None,
        length: int = 6,
        include_otp: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> OTPSent:
        """Send an OTP to ``to``; see :class:`~twofactor_notify.models.OTPMessage`."""
        receipt = self.send(
            OTPMessage(
                to=to,
                template=template,
                otp=otp,
                length=length,
                include_otp=include_otp,
                metadata=_metadata(metadata),
            )
        )
        return _expect(receipt, OTPSent)

    def send_sms(
        self,
        to: str | Iterable[str],
        text: str,
        *,
        sender: str | None = None,
        promotional: bool = False,
        schedule_at: datetime | None = None,
        pe_id: str | None = None,
        ct_id: str | None = None,
        campaign_name: str | None = None,
        campaign_webhook: str | None = None,
        shorten_urls: bool = False,
        shorten_url_webhook: str | None = None,
        shorten_url_callback: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> SMSSent:
        """Send a text message to one or more numbers; see :class:`SMSMessage`."""
        receipt = self.send(
            SMSMessage(
                to=to,  # type: ignore[arg-type]  # SMSMessage makes a tuple of it
                text=text,
                sender=sender if sender is not None else "",  # "" takes the default
                promotional=promotional,
                schedule_at=schedule_at,
                pe_id=pe_id,
                ct_id=ct_id,
                campaign_name=campaign_name,
                campaign_webhook=campaign_webhook,
                shorten_urls=shorten_urls,
                shorten_url_webhook=shorten_url_webhook,
                shorten_url_callback=shorten_url_callback,
                metadata=_metadata(metadata),
            )
        )
        return _expect(receipt, SMSSent)

    def iter_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = MAX_BULK_CHUNK,
    ) -> Iterator[BulkResult]:
        """Send any number of bulk messages, one request per chunk, yielding each chunk's result.

        Messages are read lazily from ``messages``: :class:`BulkMessage` objects or plain
        mappings with the same keys (an item of another type stops the send with one
        :class:`InvalidInputError`; see
        :func:`~twofactor_notify.validation.coerce_bulk_messages`). Each message is checked
        as every transport checks it; a refused one is a rejection at its index and never
        reaches the hooks. The rest of each chunk is a :class:`BulkBatch` for the hooks.
        Indexes in the results are positions in ``messages``. A chunk that fails yields a
        result with a :class:`BulkChunkFailure` and the next chunk still goes.
        """
        return iter_chunk_results(coerce_bulk_messages(messages), chunk_size, self._send_batch)

    def send_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = MAX_BULK_CHUNK,
    ) -> BulkResult:
        """Send any number of bulk messages and return one combined :class:`BulkResult`."""
        return collect_bulk_results(self.iter_bulk(messages, chunk_size=chunk_size))

    def verify_otp(
        self, code: str, *, session_id: str | None = None, phone: str | None = None
    ) -> Verification:
        """Verify ``code`` by ``session_id`` (VERIFY) or by ``phone`` (VERIFY3), exactly one."""
        if (session_id is None) == (phone is None):
            raise InvalidInputError("give exactly one of session_id and phone", field="session_id")
        code = validate_otp_code(code)
        if session_id is not None:
            return self._verify(code, session_id=validate_session_id(session_id), phone=None)
        assert phone is not None
        return self._verify(
            code, session_id=None, phone=validate_otp_phone(phone, region=self.region)
        )

    def handle_report(self, report: DeliveryReport | ClickReport) -> None:
        """Fire ``on_delivery`` for a parsed report; plugin errors are logged, not raised."""
        _call_safely(self.plugin_manager.hook.on_delivery, logger, report=report, transport=self)

    def close(self) -> None:
        """Release resources (the client's connection pool)."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _phone(self, raw: str) -> str:
        return validate_phone(raw, region=self.region)

    def _prepare(self, message: Message) -> Message:
        """Fill this transport's defaults, then run the checks every transport runs.

        Plugins see canonical data: numbers in E.164, the default sender and template in.
        """
        # Only an absent value (None or "") takes the default: 0 or b"" is a wrong value,
        # refused by the checks, not a request for the default.
        if isinstance(message, OTPMessage) and _unset(message.template):
            message = dataclasses.replace(message, template=self.default_template)
        elif isinstance(message, SMSMessage) and _unset(message.sender) and self.default_sender:
            message = dataclasses.replace(message, sender=self.default_sender)
        elif isinstance(message, BulkBatch):
            message = dataclasses.replace(message, messages=self._with_sender(message.messages))
        return check_message(message, region=self.region)

    def _with_sender(self, messages: tuple[BulkMessage, ...]) -> tuple[BulkMessage, ...]:
        """``messages`` with this transport's default sender where one names none."""
        sender = self.default_sender
        if not sender or all(
            not isinstance(m, BulkMessage) or not _unset(m.sender) for m in messages
        ):
            return messages
        return tuple(
            dataclasses.replace(m, sender=sender)
            if isinstance(m, BulkMessage) and _unset(m.sender)
            else m
            for m in messages
        )

    def _run_before_send(self, message: Message) -> Message:
        """Call each ``before_send`` in pluggy's order, feeding each the previous one's result."""
        # pluggy's own call would hand every plugin the original message; a chain is needed so
        # that a plugin sees (and can refuse) what the plugins before it produced.
        for impl in reversed(self.plugin_manager.hook.before_send.get_hookimpls()):
            if impl.argnames == _BEFORE_SEND_ARGS:  # the usual signature: skip the kwargs dict
                result = impl.function(message, self)
            else:
                kwargs: dict[str, Any] = {"message": message, "transport": self}
                result = impl.function(*(kwargs[name] for name in impl.argnames))
            if result is not None:
                name = _plugin_label(impl.plugin, impl.plugin_name)
                if not isinstance(result, OTPMessage | SMSMessage | BulkBatch):
                    raise ConfigurationError(
                        f"before_send plugin {name} returned a "
                        f"{type(result).__name__}; return a message or None"
                    )
                if type(result) is not type(message):
                    # The caller asked for one kind of send and waits for its kind of
                    # receipt (an OTP's session id): another kind cannot answer it.
                    raise ConfigurationError(
                        f"before_send plugin {name} turned a "
                        f"{type(message).__name__} into a {type(result).__name__}; a plugin "
                        "may change a message's fields, not its kind"
                    )
                if isinstance(message, BulkBatch) and (
                    len(result.messages) != len(message.messages)  # type: ignore[union-attr]
                ):
                    # Results are reported by position: a batch of another size would pin
                    # every later message's outcome on the wrong caller index.
                    raise ConfigurationError(
                        f"before_send plugin {name} changed a bulk batch's size; "
                        "replace messages in place, or refuse the batch"
                    )
                message = self._prepare(result)
        return message

    def _send_batch(self, chunk: tuple[BulkMessage, ...]) -> BulkResult:
        """Send the messages of ``chunk`` the checks accept; the others are rejections."""
        checked = split_checked(self._with_sender(chunk), region=self.region)
        if not checked.messages:
            return BulkResult(rejected=tuple(checked.rejected))
        try:
            # already checked, message by message: no second pass over the batch
            receipt = self._send_checked(BulkBatch(messages=tuple(checked.messages)))
        except TwoFactorError as exc:
            note_positions(exc, checked)
            raise
        return restore_positions(_expect(receipt, BulkResult), checked)

    @abstractmethod
    def _deliver(self, message: Message) -> Receipt:
        """Deliver a prepared message (already through ``before_send``)."""

    @abstractmethod
    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        """Verify a validated code against a session id or an E.164 number."""


def _plugin_label(plugin: object, registered_name: str) -> str:
    """How an error names a plugin: the name it was registered under, unless that is the
    number pluggy makes up for an unnamed object -- then its class (or module) name."""
    if not registered_name.isdigit():
        return repr(registered_name)
    if isinstance(plugin, types.ModuleType):
        return repr(plugin.__name__)
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return repr(f"{cls.__module__}.{cls.__qualname__}")


def _unset(value: object) -> bool:
    """True for a field left out: ``None`` or the empty string."""
    return value is None or value == ""


def _metadata(metadata: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A copy of the caller's metadata (left as it is when it is not a mapping, for the
    checks to refuse by name)."""
    if metadata is None:
        return {}
    return dict(metadata) if isinstance(metadata, Mapping) else metadata


def _expect(receipt: Receipt, kind: type[_R]) -> _R:
    """``receipt`` as the kind its send answers with; a transport bug otherwise."""
    if not isinstance(receipt, kind):
        raise ConfigurationError(
            f"the transport answered a send with a {type(receipt).__name__}, not a {kind.__name__}"
        )
    return receipt


class TwoFactorTransport(Transport):
    """The production transport: delivers through a :class:`TwoFactorClient`.

    >>> transport = TwoFactorTransport(TwoFactorClient(api_key), default_sender="MYBRND")
    """

    def __init__(self, client: TwoFactorClient, **kwargs: Any) -> None:
        kwargs.setdefault("region", client.region)
        super().__init__(**kwargs)
        self.client = client

    def __repr__(self) -> str:
        return f"TwoFactorTransport(client={self.client!r})"

    def _deliver(self, message: Message) -> Receipt:
        if isinstance(message, OTPMessage):
            return self.client.send_otp(
                message.to,
                template=message.template,
                otp=message.otp,
                length=message.length,
                include_otp=message.include_otp,
            )
        if isinstance(message, SMSMessage):
            return self.client.send_message(message)
        return self.client.send_bulk_chunk(message.messages)

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        return self.client.verify_otp(code, session_id=session_id, phone=phone)

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()


class InMemoryTransport(Transport):
    """Keeps every sent message in :attr:`outbox` and verifies the OTPs it "sent".

    Used by the test fixtures and the framework adapters' test modes. Generated OTPs are
    random; :meth:`last_otp` returns the one sent to a number. OTPs expire after
    ``otp_ttl`` seconds and match once.
    """

    def __init__(self, *, otp_ttl: float = 300.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.otp_ttl = otp_ttl
        #: every message delivered, in order (after ``before_send`` changes)
        self.outbox: list[Message] = []
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str, float]] = {}  # id -> (phone, otp, expiry)
        self._latest: dict[str, str] = {}  # phone -> session id
        self._used: set[str] = set()  # session ids whose OTP matched once
        self._counter = itertools.count(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(outbox={len(self.outbox)} messages)"

    def last_otp(self, phone: str) -> str | None:
        """The OTP most recently sent to ``phone`` (any accepted form), or ``None``."""
        e164 = self._phone(phone)
        with self._lock:
            session = self._latest.get(e164)
            if session not in self._sessions or session in self._used:
                return None
            return self._sessions[session][1]

    def clear(self) -> None:
        """Empty the outbox and forget every OTP."""
        with self._lock:
            self.outbox.clear()
            self._sessions.clear()
            self._latest.clear()
            self._used.clear()

    def _deliver(self, message: Message) -> Receipt:
        with self._lock:
            self.outbox.append(message)
        if isinstance(message, OTPMessage):
            otp = message.otp or "".join(
                secrets.choice("0123456789") for _ in range(4 if message.length == 4 else 6)
            )
            session_id = f"mem-{uuid.uuid4()}"
            with self._lock:
                self._sessions[session_id] = (message.to, otp, time.monotonic() + self.otp_ttl)
                self._latest[message.to] = session_id
            shown = otp if (message.otp or message.include_otp) else None
            return OTPSent(session_id=session_id, to=message.to, otp=shown)
        if isinstance(message, SMSMessage):
            return SMSSent(message_id=f"mem-{next(self._counter):012d}", to=message.to)
        request_id = f"mem-bulk-{uuid.uuid4()}"
        return BulkResult(
            accepted=tuple(
                BulkAccepted(index=i, message_id=f"{request_id}-{i + 1}", to=m.to)
                for i, m in enumerate(message.messages)
            ),
            request_ids=(request_id,),
        )

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        # The outcomes 2Factor (and its emulator) give: an unknown session id is "No Entry
        # Exists", a number with no OTP is a mismatch (VERIFY3), a used or late code is
        # "OTP Expired".
        with self._lock:
            by_phone = session_id is None
            if by_phone:
                session_id = self._latest.get(phone or "")
            entry = self._sessions.get(session_id or "")
            if entry is None:
                if by_phone:
                    return Verification(VerificationOutcome.MISMATCH, "OTP Mismatch")
                return Verification(VerificationOutcome.UNKNOWN_SESSION, "No Entry Exists")
            _, otp, expiry = entry
            if session_id in self._used or time.monotonic() > expiry:
                return Verification(VerificationOutcome.EXPIRED, "OTP Expired")
            if not hmac.compare_digest(otp.encode(), code.encode()):
                return Verification(VerificationOutcome.MISMATCH, "OTP Mismatch")
            self._used.add(session_id or "")
            return Verification(VerificationOutcome.MATCHED, "OTP Matched")


class ConsoleTransport(InMemoryTransport):
    """Prints each message to ``stream`` (stdout by default) and otherwise acts in memory.

    For local development: the OTP is printed masked unless ``show_otp=True``, so that a
    console log copied into a ticket does not leak a live code.
    """

    def __init__(self, *, stream: IO[str] | None = None, show_otp: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.stream = stream
        self.show_otp = show_otp

    def _deliver(self, message: Message) -> Receipt:
        receipt = super()._deliver(message)
        out = self.stream or sys.stdout
        if isinstance(message, OTPMessage):
            otp = self._sessions.get(getattr(receipt, "session_id", ""), ("", "", 0.0))[1]
            shown = otp if self.show_otp else "*" * len(otp)
            out.write(
                f"[twofactor] OTP to {message.to} (template={message.template or '-'}): {shown}\n"
            )
        elif isinstance(message, SMSMessage):
            kind = "PROMO" if message.promotional else "TRANS"
            out.write(
                f"[twofactor] {kind} SMS from {message.sender} to {', '.join(message.to)}: "
                f"{message.text}\n"
            )
        else:
            out.write(f"[twofactor] bulk batch of {len(message.messages)} messages\n")
            for m in message.messages:
                out.write(f"  from {m.sender} to {m.to}: {m.text}\n")
        out.flush()
        return receipt


class NullTransport(Transport):
    """Accepts every message and discards it. Verifications never match."""

    def __repr__(self) -> str:
        return "NullTransport()"

    def _deliver(self, message: Message) -> Receipt:
        if isinstance(message, OTPMessage):
            return OTPSent(session_id=f"null-{uuid.uuid4()}", to=message.to)
        if isinstance(message, SMSMessage):
            return SMSSent(message_id=f"null-{uuid.uuid4()}", to=message.to)
        return BulkResult(
            accepted=tuple(
                BulkAccepted(index=i, message_id=f"null-{i}", to=m.to)
                for i, m in enumerate(message.messages)
            )
        )

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        return Verification(VerificationOutcome.UNKNOWN_SESSION, "No Entry Exists")


class FileTransport(InMemoryTransport):
    """Appends each message as one JSON line to a new file in ``directory``; else in memory.

    One file per transport, named ``<timestamp>-<id>-<pid>.jsonl`` (like Django's file e-mail
    backend), so two processes never interleave lines. An OTP a caller chose is masked
    unless ``show_otp``; OTPs the transport generates are never written, and verify in this
    process as with :class:`InMemoryTransport`.

    :param directory: the folder (created if missing) the file goes in.
    """

    def __init__(
        self, *, directory: str | os.PathLike[str], show_otp: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        #: the JSON-lines file this transport appends to
        self.path = folder / f"{stamp}-{id(self)}-{os.getpid()}.jsonl"
        self.show_otp = show_otp
        self._file_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileTransport(path={str(self.path)!r})"

    def _deliver(self, message: Message) -> Receipt:
        receipt = super()._deliver(message)
        data = message.to_dict()
        if data.get("otp") and not self.show_otp:
            data["otp"] = "*" * len(str(data["otp"]))
        line = json.dumps(data, ensure_ascii=False, sort_keys=True)
        with self._file_lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return receipt
