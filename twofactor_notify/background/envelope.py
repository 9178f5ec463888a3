"""The envelope: a message serialised for a task queue, with its idempotency key.

An :class:`Envelope` is what travels from the web process to a worker. Its JSON form is
small, versioned and lossless::

    {"v": 1, "key": "order-1234-shipped", "queued_at": "2026-12-01T15:04:05+00:00",
     "message": {"kind": "sms", "to": ["+919876543210"], "text": "...", ...}}

The ``key`` names the send, not the task: a queue may deliver the same task twice, and the
ledger lets only one delivery of a key reach 2Factor. Give your own key when the send stands
for something in your domain (an order's shipping notice), so that enqueueing it twice by
mistake still sends once; otherwise one is generated.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidInputError
from ..models import BulkBatch, Message, OTPMessage, SMSMessage
from ..validation import MAX_BULK_CHUNK, validate_metadata

__all__ = [
    "ENVELOPE_VERSION",
    "Envelope",
    "EnvelopeError",
    "new_key",
    "unreadable_key",
    "validate_key",
]

#: The envelope format this version writes (and the only one it reads).
ENVELOPE_VERSION = 1

#: Keys are printable ASCII without spaces, so they are safe as Redis keys, database values
#: and log fields; 1 to 200 characters.
_KEY = re.compile(r"[!-~]{1,200}")

_KINDS: dict[str, type[OTPMessage] | type[SMSMessage] | type[BulkBatch]] = {
    OTPMessage.kind: OTPMessage,
    SMSMessage.kind: SMSMessage,
    BulkBatch.kind: BulkBatch,
}


class EnvelopeError(InvalidInputError):
    """A serialised envelope could not be read: wrong version, shape, key or message kind.

    ``field`` names the part at fault (``"v"``, ``"key"``, ``"message"``, ``"queued_at"``).
    """


def new_key() -> str:
    """A fresh idempotency key (a random UUID in hex)."""
    return uuid.uuid4().hex


def validate_key(key: object, *, suffix: str = "") -> str:
    """Return ``key`` if it is a usable idempotency key, else raise :class:`EnvelopeError`
    saying what is wrong with it. ``suffix``: what will be appended to it (a bulk batch's
    ``:0``), which the 200 characters must leave room for."""
    rule = "an idempotency key is 1 to 200 printable ASCII characters without spaces"
    if not isinstance(key, str):
        raise EnvelopeError(f"{rule}, not a {type(key).__name__}", field="key")
    if not _KEY.fullmatch(key):
        raise EnvelopeError(f"{rule}; this one is not", field="key")
    if suffix and not _KEY.fullmatch(key + suffix):
        raise EnvelopeError(
            f"{rule}, and a bulk send's batches are keyed {key[:20]}…{suffix}: give a key of "
            f"at most {200 - len(suffix)} characters (this one has {len(key)})",
            field="key",
        )
    return key


def unreadable_key(payload: object) -> str:
    """The ledger key of an envelope a worker could not read: its own key when that is
    readable, else ``unreadable:`` and the SHA-256 of the raw body (its JSON text, keys
    sorted), so that every delivery of one body lands on one record."""
    if isinstance(payload, Mapping):
        key = payload.get("key")
        if isinstance(key, str) and _KEY.fullmatch(key):
            return key
    if isinstance(payload, bytes | str):
        raw = payload.encode() if isinstance(payload, str) else payload
    else:
        raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr).encode()
    return "unreadable:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message on its way through a queue: the message, its idempotency key, when queued.

    Build one with :meth:`wrap` (which checks the message can travel) and read one back with
    :meth:`from_json` / :meth:`from_dict`. ``repr`` shows the key and the kind, never the
    message's content.
    """

    message: Message = field(repr=False)
    key: str
    queued_at: datetime
    version: int = ENVELOPE_VERSION

    @property
    def kind(self) -> str:
        """The message's kind: ``"otp"``, ``"sms"`` or ``"bulk"``."""
        return self.message.kind

    @classmethod
    def wrap(
        cls, message: Message, *, key: str | None = None, queued_at: datetime | None = None
    ) -> Envelope:
        """Put ``message`` in an envelope, with ``key`` or a new one.

        Refuses (with :class:`EnvelopeError`) what could not travel losslessly: a message
        kind other than OTP, SMS and bulk batch, a bulk batch of more than 1000 messages (one
        request is one envelope), metadata that is not plain JSON data.
        """
        if not isinstance(message, OTPMessage | SMSMessage | BulkBatch):
            raise EnvelopeError(
                f"cannot queue a {type(message).__name__}; expected OTPMessage, SMSMessage or "
                "BulkBatch",
                field="message",
            )
        if isinstance(message, BulkBatch) and not 1 <= len(message.messages) <= MAX_BULK_CHUNK:
            raise EnvelopeError(
                f"a queued bulk batch holds 1 to {MAX_BULK_CHUNK} messages (one request), not "
                f"{len(message.messages)}",
                field="messages",
            )
        metadata = getattr(message, "metadata", None) or {}
        _check_json_data(metadata, "metadata")
        when = queued_at or datetime.now(UTC)
        envelope = cls(
            message=message,
            key=new_key() if key is None else validate_key(key),
            queued_at=when,
        )
        # What goes in must come out: refuse now rather than send something else later.
        back = cls.from_dict(envelope.to_dict())
        if back != envelope or (getattr(back.message, "metadata", None) or {}) != metadata:
            raise EnvelopeError(
                "the message does not survive serialisation unchanged", field="message"
            )
        return envelope

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the module docstring)."""
        return {
            "v": self.version,
            "key": self.key,
            "queued_at": self.queued_at.isoformat(),
            "message": self.message.to_dict(),
        }

    def to_json(self) -> str:
        """The compact JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Read :meth:`to_dict`'s output; :class:`EnvelopeError` for anything else."""
        if not isinstance(data, Mapping):
            raise EnvelopeError("an envelope is a JSON object", field="envelope")
        version = data.get("v")
        if version != ENVELOPE_VERSION or isinstance(version, bool):
            raise EnvelopeError(
                f"unsupported envelope version {version!r}; this library reads version "
                f"{ENVELOPE_VERSION} (upgrade the workers before the web processes)",
                field="v",
            )
        key = validate_key(data.get("key"))
        raw_when = data.get("queued_at")
        try:
            queued_at = datetime.fromisoformat(raw_when) if isinstance(raw_when, str) else None
        except ValueError:
            queued_at = None
        if queued_at is None:
            raise EnvelopeError("queued_at is not an ISO 8601 time", field="queued_at")
        raw = data.get("message")
        kind = raw.get("kind") if isinstance(raw, Mapping) else None
        message_cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if message_cls is None or not isinstance(raw, Mapping):
            raise EnvelopeError(
                f"unknown message kind {kind!r}; expected one of {sorted(_KINDS)}",
                field="message",
            )
        try:
            message = message_cls.from_dict(raw)
        except (TypeError, ValueError, KeyError) as exc:
            raise EnvelopeError(
                f"the {kind} message could not be read ({type(exc).__name__})", field="message"
            ) from None
        return cls(message=message, key=key, queued_at=queued_at, version=version)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Read :meth:`to_json`'s output; :class:`EnvelopeError` for anything else."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise EnvelopeError("an envelope is JSON text", field="envelope") from None
        return cls.from_dict(data)


def _check_json_data(value: Any, where: str) -> None:
    """:func:`~twofactor_notify.validation.validate_metadata`'s rule, as an envelope error."""
    try:
        validate_metadata(value, where=where)
    except InvalidInputError as exc:
        raise EnvelopeError(exc.message, field="metadata") from None
