"""Messages, receipts, verifications and delivery reports: small frozen dataclasses.

They are plain data that round-trips through JSON (``to_dict`` / ``from_dict``) so that a
send can later move onto a task queue. Fields holding secrets (an OTP value) are hidden from
``repr``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar, Union

__all__ = [
    "BulkAccepted",
    "BulkBatch",
    "BulkChunkFailure",
    "BulkMessage",
    "BulkRejection",
    "BulkResult",
    "ClickReport",
    "DeliveryLookup",
    "DeliveryReport",
    "DeliveryStatus",
    "Message",
    "OTPMessage",
    "OTPSent",
    "Receipt",
    "SMSMessage",
    "SMSSent",
    "Verification",
    "VerificationOutcome",
]

_T = TypeVar("_T", bound="_Data")


class _Data:
    """JSON round-trip for the dataclasses below (tuples become lists and back)."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, tagged with ``"kind"``."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _to_json(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls: type[_T], data: Mapping[str, Any]) -> _T:
        """Rebuild an instance from :meth:`to_dict`'s output."""
        kwargs: dict[str, Any] = {}
        hints = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for name, f in hints.items():
            if name in data:
                kwargs[name] = _from_json(f, data[name])
        return cls(**kwargs)


def _to_json(value: Any) -> Any:
    if isinstance(value, _Data):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


_NESTED: dict[str, type[_Data]] = {}


def _from_json(f: dataclasses.Field[Any], value: Any) -> Any:
    typ = str(f.type)
    if value is None:
        return None
    if "datetime" in typ and isinstance(value, str):
        return datetime.fromisoformat(value)
    if "VerificationOutcome" in typ:
        return VerificationOutcome(value)
    if "DeliveryStatus" in typ:
        return DeliveryStatus.parse(value)
    if isinstance(value, list):
        items = []
        for v in value:
            if isinstance(v, Mapping) and v.get("kind") in _NESTED:
                items.append(_NESTED[v["kind"]].from_dict(v))
            else:
                items.append(v)
        return tuple(items)
    return value


def _register(cls: type[_T]) -> type[_T]:
    _NESTED[cls.kind] = cls
    return cls


# --------------------------------------------------------------------------- messages


@_register
@dataclass(frozen=True, slots=True)
class OTPMessage(_Data):
    """An OTP to send to one phone number (V1 ``/SMS/{phone}/…``).

    :param to: the recipient, E.164 (``+919876543210``) or any form :func:`normalize_phone`
        accepts; the client normalises it.
    :param template: the OTP template name registered with 2Factor; ``None`` for the default.
    :param otp: a custom OTP (4-6 digits) to send instead of letting 2Factor generate one.
    :param length: 6 (AUTOGEN / AUTOGEN2) or 4 (AUTOGEN3) for generated OTPs.
    :param include_otp: ask 2Factor to return the generated OTP (AUTOGEN2).
    :param metadata: free data for plugins (never sent to 2Factor).
    """

    kind: ClassVar[str] = "otp"
    to: str
    template: str | None = None
    otp: str | None = field(default=None, repr=False)
    length: int = 6
    include_otp: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient of the message (one for an OTP)."""
        return (self.to,)


@_register
@dataclass(frozen=True, slots=True)
class SMSMessage(_Data):
    """A text message through R1 (``TRANS_SMS`` or ``PROMO_SMS``), to one or more numbers.

    Every optional field of the reference is here: ``schedule_at`` (at least 5 minutes
    ahead), ``pe_id`` / ``ct_id`` (DLT ids), ``campaign_name`` / ``campaign_webhook`` (click
    tracking), ``shorten_urls`` with ``shorten_url_webhook`` and ``shorten_url_callback``.
    """

    kind: ClassVar[str] = "sms"
    to: tuple[str, ...]
    text: str
    sender: str
    promotional: bool = False
    schedule_at: datetime | None = None
    pe_id: str | None = None
    ct_id: str | None = None
    campaign_name: str | None = None
    campaign_webhook: str | None = None
    shorten_urls: bool = False
    shorten_url_webhook: str | None = None
    shorten_url_callback: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.to, tuple):
            object.__setattr__(self, "to", _recipient_tuple(self.to))

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient of the message."""
        return self.to


def _recipient_tuple(to: object) -> tuple[Any, ...]:
    """The recipients ``to`` names: a string (numbers joined by commas, as R1 takes them) or
    an iterable of numbers. Anything that is not an iterable of items (an ``int``, ``None``,
    ``bytes``, a mapping) stays one item, for the checks to refuse by name rather than
    iterate over its bytes."""
    if isinstance(to, str):
        # "" and " , " stay one (empty) number, refused as such like any other empty number
        return tuple(p for p in to.split(",") if p.strip()) or (to,)
    if isinstance(to, bytes | bytearray | memoryview | Mapping) or not isinstance(to, Iterable):
        return (to,)
    return tuple(to)


@_register
@dataclass(frozen=True, slots=True)
class BulkMessage(_Data):
    """One message of a bulk request (``R1/Bulk``): one recipient, its own text and sender.

    ``callback_value1`` / ``callback_value2`` are echoed back in the delivery report;
    ``callback_format`` is ``"json"`` or ``"raw-url-encoded"``.
    """

    kind: ClassVar[str] = "bulk_message"
    to: str
    text: str
    sender: str
    callback_value1: str | None = None
    callback_value2: str | None = None
    callback_format: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient of the message (one)."""
        return (self.to,)


@_register
@dataclass(frozen=True, slots=True)
class BulkBatch(_Data):
    """A batch of :class:`BulkMessage` as one unit for hooks (``before_send`` sees the batch)."""

    kind: ClassVar[str] = "bulk"
    messages: tuple[BulkMessage, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient in the batch, in order."""
        return tuple(m.to for m in self.messages)


Message = Union[OTPMessage, SMSMessage, BulkBatch]  # noqa: UP007 - a runtime alias


# --------------------------------------------------------------------------- receipts


@_register
@dataclass(frozen=True, slots=True)
class OTPSent(_Data):
    """2Factor accepted an OTP send. ``session_id`` is what VERIFY takes.

    ``otp`` is set only for AUTOGEN2 (2Factor returned it) and for a custom OTP; it is never
    shown in ``repr``.
    """

    kind: ClassVar[str] = "otp_sent"
    session_id: str
    to: str = ""
    otp: str | None = field(default=None, repr=False)


@_register
@dataclass(frozen=True, slots=True)
class SMSSent(_Data):
    """2Factor queued a text message. Queued, not delivered: see :class:`DeliveryReport`."""

    kind: ClassVar[str] = "sms_sent"
    message_id: str
    to: tuple[str, ...] = ()


@_register
@dataclass(frozen=True, slots=True)
class BulkAccepted(_Data):
    """A bulk message 2Factor accepted, at the caller's own ``index`` in the input."""

    kind: ClassVar[str] = "bulk_accepted"
    index: int
    message_id: str
    to: str


@_register
@dataclass(frozen=True, slots=True)
class BulkRejection(_Data):
    """A bulk message refused, at the caller's own ``index``, with 2Factor's (or our) reason."""

    kind: ClassVar[str] = "bulk_rejection"
    index: int
    to: str
    reason: str


@_register
@dataclass(frozen=True, slots=True)
class BulkChunkFailure(_Data):
    """A whole request of a bulk send failed: messages ``start``..``start+count-1``.

    ``error`` is the error's class name and ``message`` its (secret-free) text.
    ``outcome_unknown`` is true when the request may have been accepted (timeout): do not
    resend those messages blindly.
    """

    kind: ClassVar[str] = "bulk_chunk_failure"
    start: int
    count: int
    error: str
    message: str
    outcome_unknown: bool = False


@_register
@dataclass(frozen=True, slots=True)
class BulkResult(_Data):
    """The outcome of a bulk send over any number of requests."""

    kind: ClassVar[str] = "bulk_result"
    accepted: tuple[BulkAccepted, ...] = ()
    rejected: tuple[BulkRejection, ...] = ()
    failed_chunks: tuple[BulkChunkFailure, ...] = ()
    request_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every message was accepted."""
        return not self.rejected and not self.failed_chunks

    @property
    def total(self) -> int:
        """How many messages the result accounts for."""
        return len(self.accepted) + len(self.rejected) + sum(f.count for f in self.failed_chunks)


Receipt = Union[OTPSent, SMSSent, BulkResult]  # noqa: UP007 - a runtime alias


# --------------------------------------------------------------------------- verification


class VerificationOutcome(enum.StrEnum):
    """What 2Factor said about an OTP verification."""

    MATCHED = "matched"
    MISMATCH = "mismatch"
    EXPIRED = "expired"
    UNKNOWN_SESSION = "unknown_session"


@_register
@dataclass(frozen=True, slots=True)
class Verification(_Data):
    """The answer to a verification. Truthy only when the OTP matched.

    Decided by 2Factor's ``Details`` (``OTP Matched`` / ``OTP Mismatch`` / ``OTP Expired`` /
    ``… No Entry Exists``), never by ``Status``: the reference's own success example says
    ``"Status": "Error"``.
    """

    kind: ClassVar[str] = "verification"
    outcome: VerificationOutcome
    details: str = ""

    def __bool__(self) -> bool:
        return self.outcome is VerificationOutcome.MATCHED

    @property
    def matched(self) -> bool:
        """True when the OTP matched."""
        return self.outcome is VerificationOutcome.MATCHED


# --------------------------------------------------------------------------- delivery


class DeliveryStatus(enum.StrEnum):
    """Delivery states reported by 2Factor. ``OTHER`` keeps unknown values (``raw_status``)."""

    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    UNDELIVERED = "UNDELIVERED"
    REJECTED = "REJECTED"
    DLT_CNT_REJECT = "DLT-CNT-REJECT"
    DLT_HEADER_REJECT = "DLT-HEADER-REJECT"
    EXPIRED = "EXPIRED"
    PENDING = "PENDING"
    SENT = "SENT"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, value: str) -> DeliveryStatus:
        """Map 2Factor's status string; unknown values become :attr:`OTHER`."""
        member = cls._value2member_map_.get(value)  # the usual case: exactly as documented
        if member is None:
            text = (value or "").strip().upper().replace("_", "-")
            member = cls._value2member_map_.get(text, cls.OTHER)
        assert isinstance(member, DeliveryStatus)
        return member

    @property
    def final(self) -> bool:
        """True for states after which nothing more will happen."""
        return self not in (DeliveryStatus.PENDING, DeliveryStatus.SENT, DeliveryStatus.OTHER)

    @property
    def delivered(self) -> bool:
        """True only for :attr:`DELIVERED`."""
        return self is DeliveryStatus.DELIVERED


@_register
@dataclass(frozen=True, slots=True)
class DeliveryReport(_Data):
    """A delivery report 2Factor POSTed to a webhook (fields of the bulk webhook payload).

    ``message_id`` is the payload's ``SessionId``: the id a send returned.
    """

    kind: ClassVar[str] = "delivery_report"
    message_id: str
    status: DeliveryStatus
    to: str = ""
    sender: str = ""
    sent_at: datetime | None = None
    status_at: datetime | None = None
    callback_value1: str | None = None
    callback_value2: str | None = None
    raw_status: str = ""

    @property
    def dedupe_key(self) -> str:
        """Identifies the report: one message id, one recipient, one status.

        The recipient is part of it because an R1 send to several numbers has one id for all.
        """
        return f"{self.message_id}:{self.to}:{self.raw_status or self.status.value}"


@_register
@dataclass(frozen=True, slots=True)
class ClickReport(_Data):
    """A click on a tracked short link (``accessed``, ``phoneNo``, ``campaignName``, ``ip``)."""

    kind: ClassVar[str] = "click_report"
    phone: str
    campaign_name: str
    accessed_at: datetime | None = None
    ip: str = ""

    @property
    def dedupe_key(self) -> str:
        """Identifies the click: same number, campaign and instant."""
        stamp = self.accessed_at.isoformat() if self.accessed_at else ""
        return f"{self.campaign_name}:{self.phone}:{stamp}"


@_register
@dataclass(frozen=True, slots=True)
class DeliveryLookup(_Data):
    """The answer of the encrypted delivery-status lookup (``TRANS_SMS_DLR``).

    ``found`` is false when 2Factor answered ``No records found for the specified filters``.
    """

    kind: ClassVar[str] = "delivery_lookup"
    found: bool
    details: str = ""
    status: DeliveryStatus | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
