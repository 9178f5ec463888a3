"""Module-level helpers that read like Django's mail API.

>>> from django_twofactor import send_otp, verify_otp, send_sms
>>> sent = send_otp("+919876543210")
>>> verify_otp("123456", session_id=sent.session_id)

All of them go through the process-wide backend's transport (:func:`get_transport`), and
each is an error boundary (:func:`twofactor_notify.boundary.at_boundary`): a library error
leaves it detached, with no frame below the caller's, so the OTP or number passed in stays
in the caller's frame only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from twofactor_notify.boundary import at_boundary
from twofactor_notify.errors import ConfigurationError, InvalidInputError, TwoFactorError
from twofactor_notify.models import BulkMessage, BulkResult, OTPSent, SMSSent, Verification
from twofactor_notify.redaction import library_logger
from twofactor_notify.transport import Transport
from twofactor_notify.validation import wants_background

from .backends import get_backend
from .conf import get_settings

if TYPE_CHECKING:
    from twofactor_notify.background import Envelope

__all__ = ["get_transport", "send_mass_sms", "send_otp", "send_sms", "verify_otp"]

logger = library_logger("django_twofactor")


@at_boundary
def get_transport() -> Transport:
    """The process-wide transport, built from ``TWOFACTOR_NOTIFY`` (one per process)."""
    return get_backend().transport


@overload
def send_sms(
    to: str | Iterable[str],
    text: str,
    *,
    sender: str | None = ...,
    fail_silently: bool = ...,
    background: Literal[False] = ...,
    key: None = ...,
    **options: Any,
) -> SMSSent | None: ...


@overload
def send_sms(
    to: str | Iterable[str],
    text: str,
    *,
    sender: str | None = ...,
    fail_silently: bool = ...,
    background: Literal[True],
    key: str | None = ...,
    **options: Any,
) -> Envelope | None: ...


@at_boundary
def send_sms(
    to: str | Iterable[str],
    text: str,
    *,
    sender: str | None = None,
    fail_silently: bool = False,
    background: bool = False,
    key: str | None = None,
    **options: Any,
) -> SMSSent | Envelope | None:
    """Send a text message to one or more numbers (``SENDER_ID`` unless ``sender``).

    ``options`` are those of :meth:`twofactor_notify.transport.Transport.send_sms`
    (``promotional``, ``schedule_at``, ``pe_id``…). With ``fail_silently`` a failed send is
    logged and ``None`` returned; a configuration error is raised all the same.

    With ``background=True`` the message is checked now and queued when the current
    transaction commits (``TWOFACTOR_NOTIFY["BACKGROUND"]``, see "Sending in the
    background"); the :class:`~twofactor_notify.background.Envelope` is returned. ``key``
    is its idempotency key (generated when ``None``); a key without ``background=True`` is
    refused (:class:`~twofactor_notify.errors.InvalidInputError`).
    """
    if wants_background(background, key):
        from .background import queue_sms

        return queue_sms(to, text, sender=sender, fail_silently=fail_silently, key=key, **options)
    transport = get_transport()  # a ConfigurationError is not a failed send
    try:
        return transport.send_sms(to, text, sender=sender, **options)
    except ConfigurationError:
        raise
    except TwoFactorError as exc:
        if not fail_silently:
            raise
        logger.warning("send_sms failed: %s", type(exc).__name__)
        return None


@overload
def send_mass_sms(
    datatuple: Iterable[Sequence[str] | BulkMessage | Mapping[str, Any]],
    *,
    callback_format: str | None = ...,
    fail_silently: bool = ...,
    chunk_size: int = ...,
    background: Literal[False] = ...,
    key: None = ...,
) -> BulkResult: ...


@overload
def send_mass_sms(
    datatuple: Iterable[Sequence[str] | BulkMessage | Mapping[str, Any]],
    *,
    callback_format: str | None = ...,
    fail_silently: bool = ...,
    chunk_size: int = ...,
    background: Literal[True],
    key: str | None = ...,
) -> list[Envelope]: ...


@at_boundary
def send_mass_sms(
    datatuple: Iterable[Sequence[str] | BulkMessage | Mapping[str, Any]],
    *,
    callback_format: str | None = None,
    fail_silently: bool = False,
    chunk_size: int = 1000,
    background: bool = False,
    key: str | None = None,
) -> BulkResult | list[Envelope]:
    """Send many messages through 2Factor's bulk endpoint (1000 per request).

    Each item is ``(to, text)``, ``(to, text, sender)``, a :class:`BulkMessage` or a mapping
    with its keys (``{"to": ..., "text": ...}``); a missing sender is ``SENDER_ID``. An item
    of another shape stops the send with one :class:`InvalidInputError` (``field="messages"``),
    before anything is sent when ``datatuple`` is a list or tuple. Per-message rejections are
    in the result; with ``fail_silently`` a refused send gives an empty result instead of an
    error (never for a configuration error).

    With ``background=True`` each request's batch (``chunk_size`` messages) is checked now
    and queued as one envelope when the current transaction commits; the envelopes are
    returned. Their keys are ``key:0``, ``key:1``… when ``key`` is given (only with
    ``background=True``).
    """
    queue = wants_background(background, key)
    default_sender = get_settings().sender_id or ""
    transport = get_transport()

    def message(item: object, index: int) -> BulkMessage | Mapping[str, Any]:
        if isinstance(item, BulkMessage | Mapping):
            return item
        if isinstance(item, Sequence) and not isinstance(item, str | bytes) and 2 <= len(item) <= 3:
            to, text, *rest = item
            return BulkMessage(
                to=to,
                text=text,
                sender=rest[0] if rest else default_sender,
                callback_format=callback_format,
            )
        raise InvalidInputError(
            f"item {index} of send_mass_sms is a {type(item).__name__}; give (to, text), "
            "(to, text, sender), a BulkMessage or a mapping with its keys",
            field="messages",
        )

    if isinstance(datatuple, Mapping):
        # a dict iterates over its keys: item 0 would be "a str", which says nothing useful
        raise InvalidInputError(
            f"send_mass_sms takes an iterable of messages, not a {type(datatuple).__name__}; "
            "to send one message given as a mapping, pass [message]",
            field="messages",
        )
    if queue:
        from .background import queue_mass_sms

        return queue_mass_sms(
            [message(item, i) for i, item in enumerate(datatuple)], chunk_size=chunk_size, key=key
        )
    try:
        if isinstance(datatuple, str | bytes) or not isinstance(datatuple, Iterable):
            raise InvalidInputError(
                f"send_mass_sms takes an iterable of messages, not {type(datatuple).__name__}",
                field="messages",
            )
        items: Iterable[BulkMessage | Mapping[str, Any]]
        if isinstance(datatuple, Sequence):  # known in full: refuse a bad item before sending
            items = [message(item, i) for i, item in enumerate(datatuple)]
        else:
            items = (message(item, i) for i, item in enumerate(datatuple))
        return transport.send_bulk(items, chunk_size=chunk_size)
    except ConfigurationError:
        raise
    except TwoFactorError as exc:
        if not fail_silently:
            raise
        logger.warning("send_mass_sms failed: %s", type(exc).__name__)
        return BulkResult()


@at_boundary
def send_otp(
    to: str,
    *,
    template: str | None = None,
    otp: str | None = None,
    length: int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> OTPSent:
    """Send an OTP (``OTP_TEMPLATE`` unless ``template``); keep ``session_id`` to verify."""
    config = get_settings()
    return get_transport().send_otp(
        to,
        template=config.otp_template if template is None or template == "" else template,
        otp=otp,
        length=config.otp_length if length is None else length,
        metadata=metadata,
    )


@at_boundary
def verify_otp(
    code: str, *, session_id: str | None = None, phone: str | None = None
) -> Verification:
    """Verify ``code`` by ``session_id`` or by ``phone``; the result is truthy when it matched."""
    return get_transport().verify_otp(code, session_id=session_id, phone=phone)
