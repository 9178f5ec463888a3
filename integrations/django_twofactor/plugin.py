"""The core plugin that fills the message log (:class:`~django_twofactor.models.OutgoingMessage`).

Registered on the transport by every backend unless ``TWOFACTOR_NOTIFY['LOG_MESSAGES']`` is
false. It writes one row per recipient after every send attempt; it never stores an OTP,
and stores message text only when ``STORE_MESSAGE_TEXT`` is true.

Values are cut to their column's ``max_length`` (a bulk item refused locally keeps the raw
number or sender id it was given, which may be longer), and the rows of one send are written
in one ``bulk_create`` inside a savepoint: a database error loses that send's log rows (the
core logs it) but never breaks a transaction the caller has open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from twofactor_notify.errors import (
    InvalidInputError,
    InvalidPhoneNumberError,
    OutcomeUnknownError,
    SendRefusedError,
)
from twofactor_notify.hooks import hookimpl
from twofactor_notify.models import (
    BulkResult,
    Message,
    OTPMessage,
    OTPSent,
    Receipt,
    SMSMessage,
    SMSSent,
)
from twofactor_notify.phone import DEFAULT_REGION, normalize_phone

from .conf import get_settings
from .ledger import current_queue_key

if TYPE_CHECKING:
    from twofactor_notify.transport import Transport

    from .models import OutgoingMessage

__all__ = ["MessageLogPlugin"]


def _e164(number: str, region: str) -> str:
    """``number`` in E.164 form, or as given when it does not parse (the row still says
    which number was refused). OTP and SMS recipients arrive normalised by the transport;
    bulk numbers are checked per message by the client, after the hooks."""
    if number.startswith("+") and number[1:].isdigit():
        return number
    try:
        return normalize_phone(number, region=region)
    except (InvalidPhoneNumberError, TypeError):
        return number


def _error_status(error: BaseException) -> str:
    from .models import MessageStatus

    if isinstance(error, SendRefusedError):
        return MessageStatus.REFUSED
    if isinstance(error, InvalidInputError) and error.status is None:
        # refused by the checks before any request (a message a plugin made invalid):
        # nothing went out, so it is not a delivery failure
        return MessageStatus.REFUSED
    if isinstance(error, OutcomeUnknownError):
        return MessageStatus.UNKNOWN
    return MessageStatus.ERROR


_CUT_FIELDS = ("recipient", "sender", "template", "provider_id", "error", "kind", "status")


def _fit(row: OutgoingMessage) -> None:
    """Cut ``row``'s text values to their columns' ``max_length`` and drop NUL characters
    (PostgreSQL refuses them), so that one odd value cannot fail a whole batch."""
    meta = type(row)._meta
    for name in _CUT_FIELDS:
        value = getattr(row, name)
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        limit = getattr(meta.get_field(name), "max_length", None)
        if "\x00" in value:
            value = value.replace("\x00", "")
        if limit is not None and len(value) > limit:
            value = value[:limit]
        setattr(row, name, value)
    if "\x00" in row.text:
        row.text = row.text.replace("\x00", "")


class MessageLogPlugin:
    """``after_send``: record each recipient of each send in the message log."""

    @hookimpl
    def after_send(
        self,
        message: Message,
        receipt: Receipt | None,
        error: BaseException | None,
        transport: Transport,
    ) -> None:
        """Write the log rows for one send attempt."""
        from .models import OutgoingMessage
        from .reports import apply_stored_reports

        rows = self.rows_for(message, receipt, error, region=transport.region)
        key = current_queue_key.get()
        if key is not None:
            for seq, row in enumerate(rows):
                row.queue_key, row.queue_seq = key, seq
            # a worker sending a queued message whose rows were written when it was queued
            # (the database ledger): the ledger records failures; an accepted send fills in
            # 2Factor's answer
            if self._update_queued(key, rows, receipt is not None):
                return
        if rows:
            for row in rows:
                _fit(row)
            # A savepoint inside the caller's transaction (ATOMIC_REQUESTS…): a failure rolls
            # back to it instead of leaving the caller's transaction unusable.
            with transaction.atomic(using=OutgoingMessage.objects.db):
                OutgoingMessage.objects.bulk_create(rows)
                # a report that raced ahead of these rows is stored but moved nothing
                apply_stored_reports([row.provider_id for row in rows])

    @staticmethod
    def _update_queued(key: str, rows: list[OutgoingMessage], accepted: bool) -> bool:
        """Give the rows ``key`` was queued with (in message order) the status and id of
        ``rows`` when 2Factor ``accepted`` the send; False when ``key`` has no such rows
        (queued without them: the caller logs the send as a synchronous one)."""
        from django.utils import timezone

        from .models import MessageStatus, OutgoingMessage
        from .reports import apply_stored_reports

        manager = OutgoingMessage.objects
        if not manager.filter(queue_key=key).exists():
            return False
        if not accepted:
            return True
        queued = list(
            manager.filter(
                queue_key=key, status__in=[MessageStatus.SENDING, MessageStatus.UNKNOWN]
            ).order_by("pk")
        )
        if len(queued) != len(rows):
            return True  # settled already (a human, a late answer); the ledger has it
        now = timezone.now()
        with transaction.atomic(using=manager.db):
            for existing, row in zip(queued, rows, strict=True):
                _fit(row)
                manager.filter(pk=existing.pk, status=existing.status).update(
                    status=row.status, provider_id=row.provider_id, error=row.error, updated_at=now
                )
            apply_stored_reports([row.provider_id for row in rows])
        return True

    def rows_for(
        self,
        message: Message,
        receipt: Receipt | None,
        error: BaseException | None,
        *,
        region: str = DEFAULT_REGION,
    ) -> list[OutgoingMessage]:
        """The (unsaved) log rows describing one send attempt.

        Every row holds the E.164 number (``region`` reads numbers typed without a country
        code; a bulk number that does not parse keeps the form it was given) and the id
        2Factor returned, so that a delivery report finds it.
        """
        from .models import MessageKind, MessageStatus, OutgoingMessage

        store_text = get_settings().store_message_text
        status = _error_status(error) if error is not None else MessageStatus.QUEUED
        error_name = type(error).__name__[:64] if error is not None else ""
        if isinstance(message, OTPMessage):
            session = receipt.session_id if isinstance(receipt, OTPSent) else ""
            return [
                OutgoingMessage(
                    recipient=message.to,
                    kind=MessageKind.OTP,
                    template=message.template or "",
                    provider_id=session,
                    status=status,
                    error=error_name,
                )
            ]
        if isinstance(message, SMSMessage):
            message_id = receipt.message_id if isinstance(receipt, SMSSent) else ""
            return [
                OutgoingMessage(
                    recipient=to,
                    sender=message.sender,
                    kind=MessageKind.SMS,
                    provider_id=message_id,
                    status=status,
                    error=error_name,
                    text=message.text if store_text else "",
                )
                for to in message.to
            ]
        accepted: dict[int, str] = {}
        rejected: dict[int, str] = {}
        if isinstance(receipt, BulkResult):
            accepted = {a.index: a.message_id for a in receipt.accepted}
            rejected = {r.index: r.reason for r in receipt.rejected}
        rows = []
        for index, item in enumerate(message.messages):
            if index in accepted:
                row_status, row_error = str(MessageStatus.QUEUED), ""
            elif index in rejected:
                row_status, row_error = str(MessageStatus.ERROR), rejected[index][:64]
            elif error is not None:
                row_status, row_error = status, error_name
            else:
                row_status, row_error = str(MessageStatus.ERROR), "not accepted"
            rows.append(
                OutgoingMessage(
                    recipient=_e164(item.to, region),
                    sender=item.sender,
                    kind=MessageKind.BULK,
                    provider_id=accepted.get(index, ""),
                    status=row_status,
                    error=row_error,
                    text=item.text if store_text else "",
                )
            )
        return rows
