"""The outgoing message log and the delivery and click reports received by the webhooks.

No model ever holds an OTP value, and the message log stores text only when
``TWOFACTOR_NOTIFY['STORE_MESSAGE_TEXT']`` is true. A message sent in the background is the
exception, for as long as it must be sent: its envelope (with the text) stays in the outbox
until a task queue takes it, and in the database ledger until its key is final.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ClickReport",
    "DeliveryReport",
    "MessageKind",
    "MessageStatus",
    "OutboxMessage",
    "OutgoingMessage",
    "QueuedMessage",
    "QueuedState",
]


def dedupe_hash(key: str) -> str:
    """The SHA-256 hex digest a report's ``dedupe_key`` is stored (and made unique) as."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class MessageKind(models.TextChoices):
    """What was sent."""

    OTP = "otp", _("OTP")
    SMS = "sms", _("SMS")
    BULK = "bulk", _("Bulk SMS")


class MessageStatus(models.TextChoices):
    """Where a message stands: set at send time, then moved on by delivery reports."""

    TASK_QUEUED = "task_queued", _("In the task queue")
    SENDING = "sending", _("Sending")
    QUEUED = "queued", _("Sent (2Factor queued it)")
    SENT = "SENT", _("Sent")
    PENDING = "PENDING", _("Pending")
    DELIVERED = "DELIVERED", _("Delivered")
    FAILED = "FAILED", _("Failed")
    UNDELIVERED = "UNDELIVERED", _("Undelivered")
    REJECTED = "REJECTED", _("Rejected")
    DLT_CNT_REJECT = "DLT-CNT-REJECT", _("DLT content rejected")
    DLT_HEADER_REJECT = "DLT-HEADER-REJECT", _("DLT header rejected")
    EXPIRED = "EXPIRED", _("Expired")
    OTHER = "OTHER", _("Other")
    ERROR = "error", _("Send failed (never sent)")
    REFUSED = "refused", _("Refused by a plugin")
    UNKNOWN = "unknown", _("Outcome unknown")


#: Statuses after which a report with a non-final status must not move the row back.
FINAL_STATUSES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.UNDELIVERED,
        MessageStatus.REJECTED,
        MessageStatus.DLT_CNT_REJECT,
        MessageStatus.DLT_HEADER_REJECT,
        MessageStatus.EXPIRED,
    }
)


class OutgoingMessage(models.Model):
    """One message to one recipient, as sent through the transport (filled by a core plugin).

    ``recipient`` is the E.164 number and ``provider_id`` the id 2Factor returned, for
    every kind of send (OTP, SMS, bulk; a bulk number refused before sending keeps the form
    it was given). An R1 send to several numbers gives one row per number, all with the
    same ``provider_id``; a delivery report finds its rows by ``provider_id`` first, then
    ``recipient``.

    A message sent in the background has ``queue_key`` (its idempotency key) and rows from
    the moment it is queued: ``task_queued`` -> ``sending`` -> ``queued`` (2Factor accepted
    it; the id is set) / ``error`` (never sent) / ``unknown`` (it may have gone), then the
    delivery report's status (``DELIVERED``, ``UNDELIVERED``…). A row written without
    ``queue_key`` (a synchronous send, code from before the column existed, or a raw
    ``INSERT``) gets the empty string from the database itself.

    The rows of a key are numbered by ``queue_seq`` (0, 1…), unique with ``queue_key``: of two
    transactions logging messages under one key at once, the database lets one commit them
    and makes the other wait and then fail, so that the log never holds two messages under
    one key.
    """

    recipient: models.CharField[str, str] = models.CharField(
        _("recipient"), max_length=20, db_index=True
    )
    sender: models.CharField[str, str] = models.CharField(_("sender id"), max_length=16, blank=True)
    kind: models.CharField[str, str] = models.CharField(
        _("kind"), max_length=8, choices=MessageKind.choices
    )
    template: models.CharField[str, str] = models.CharField(
        _("OTP template"), max_length=64, blank=True
    )
    provider_id: models.CharField[str, str] = models.CharField(
        _("2Factor id"),
        max_length=256,
        blank=True,
        db_index=True,
        help_text=_("The OTP session id or message id 2Factor returned."),
    )
    status: models.CharField[str, str] = models.CharField(
        _("status"), max_length=24, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    error: models.CharField[str, str] = models.CharField(_("error"), max_length=64, blank=True)
    text: models.TextField[str, str] = models.TextField(_("text"), blank=True)
    status_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("status time"), null=True, blank=True
    )
    status_order: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        _("status instant (µs since 1970, UTC)"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "The real instant of status_at, which reports out of order are compared by: "
            "with USE_TZ = False, status_at is a local time, ambiguous in a DST change."
        ),
    )
    queue_key: models.CharField[str, str] = models.CharField(
        _("idempotency key"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        db_index=True,
        help_text=_("Set for a message sent in the background: its key in the send ledger."),
    )
    queue_seq: models.PositiveIntegerField[int | None, int | None] = models.PositiveIntegerField(
        _("position under the key"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "0, 1, 2… for the rows of one idempotency key (empty without a key): unique with "
            "the key, so that two transactions cannot both log a message under one key."
        ),
    )
    created_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("created"), auto_now_add=True, db_index=True
    )
    updated_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("updated"), auto_now=True
    )

    class Meta:
        verbose_name = _("outgoing SMS")
        verbose_name_plural = _("outgoing SMS")
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["provider_id", "recipient"], name="tfn_msg_id_recipient")]
        constraints = [
            # a row without a key has no position (NULL), which no unique constraint compares
            models.UniqueConstraint(fields=["queue_key", "queue_seq"], name="tfn_msg_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{MessageKind(self.kind).label} to {self.recipient} ({self.status})"


# The fields every report received by a webhook has. Functions, not an abstract base model,
# so that each report model keeps its own field order (a base's fields would come first).


def _dedupe_key_field() -> models.CharField[str, str]:
    """The report's :func:`dedupe_hash`: a report retried by 2Factor is stored once."""
    return models.CharField(_("dedupe key"), max_length=64, unique=True, editable=False)


def _handed_over_field() -> models.BooleanField[bool, bool]:
    return models.BooleanField(
        _("handed over"),
        default=True,
        db_default=True,
        editable=False,
        help_text=_(
            "False while the webhook has stored the report but not yet called every plugin "
            "and receiver; a retry of the report finishes the hand-over."
        ),
    )


def _hand_over_lease_field() -> models.FloatField[float, float]:
    return models.FloatField(
        _("hand-over held until (POSIX time)"),
        default=0.0,
        db_default=0.0,
        editable=False,
        help_text=_(
            "While a webhook request hands the report over, no concurrent copy does; a "
            "retry after this time finishes a hand-over that was cut short."
        ),
    )


def _received_at_field() -> models.DateTimeField[datetime | None, datetime | None]:
    return models.DateTimeField(_("received"), auto_now_add=True, db_index=True)


class DeliveryReport(models.Model):
    """A delivery report received by the delivery webhook; stored once per ``dedupe_key``."""

    dedupe_key: models.CharField[str, str] = _dedupe_key_field()
    message_id: models.CharField[str, str] = models.CharField(
        _("2Factor id"), max_length=256, db_index=True
    )
    recipient: models.CharField[str, str] = models.CharField(
        _("recipient"), max_length=256, blank=True
    )
    sender: models.CharField[str, str] = models.CharField(
        _("sender id"), max_length=256, blank=True
    )
    status: models.CharField[str, str] = models.CharField(_("status"), max_length=24)
    raw_status: models.CharField[str, str] = models.CharField(
        _("status as sent"), max_length=256, blank=True
    )
    sent_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("sent at"), null=True, blank=True
    )
    status_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("status at"), null=True, blank=True
    )
    callback_value1: models.CharField[str, str] = models.CharField(
        _("callback value 1"), max_length=256, blank=True
    )
    callback_value2: models.CharField[str, str] = models.CharField(
        _("callback value 2"), max_length=256, blank=True
    )
    handed_over: models.BooleanField[bool, bool] = _handed_over_field()
    lease_until: models.FloatField[float, float] = _hand_over_lease_field()
    received_at: models.DateTimeField[datetime | None, datetime | None] = _received_at_field()

    class Meta:
        verbose_name = _("delivery report")
        verbose_name_plural = _("delivery reports")
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.message_id} to {self.recipient}: {self.status}"


class ClickReport(models.Model):
    """A click on a tracked link, received by the click webhook; stored once."""

    dedupe_key: models.CharField[str, str] = _dedupe_key_field()
    phone: models.CharField[str, str] = models.CharField(_("phone"), max_length=256)
    campaign_name: models.CharField[str, str] = models.CharField(
        _("campaign"), max_length=256, blank=True
    )
    accessed_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("accessed at"), null=True, blank=True
    )
    ip: models.CharField[str, str] = models.CharField(_("IP address"), max_length=256, blank=True)
    handed_over: models.BooleanField[bool, bool] = _handed_over_field()
    lease_until: models.FloatField[float, float] = _hand_over_lease_field()
    received_at: models.DateTimeField[datetime | None, datetime | None] = _received_at_field()

    class Meta:
        verbose_name = _("click report")
        verbose_name_plural = _("click reports")
        ordering = ("-received_at", "-id")

    def __str__(self) -> str:
        return f"{self.campaign_name}: {self.phone}"


class QueuedState(models.TextChoices):
    """Where a queued message stands in the database send ledger: the states of
    :class:`twofactor_notify.background.LedgerState` and ``queued``, a key waiting in the task
    queue (not claimed, not sent). Not the message log's ``queued`` (2Factor accepted it)."""

    QUEUED = "queued", _("In the task queue (not sent yet)")
    SENDING = "sending", _("Sending")
    RETRY_WAIT = "retry_wait", _("Waiting to retry (never sent)")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (never sent)")
    UNKNOWN = "unknown", _("Outcome unknown")
    UNREADABLE = "unreadable", _("Unreadable by a worker (never sent)")


class QueuedMessage(models.Model):
    """The database send ledger: one row per idempotency key of a message sent in the
    background (:class:`django_twofactor.ledger.DatabaseLedger`).

    The row is written when the message is queued (in the caller's transaction, so a
    rollback leaves none) and holds the serialised envelope, so that a human can send an
    unknown outcome again, deliberately, under a new key (``resent_as``, ``resent_by``).
    """

    key: models.CharField[str, str] = models.CharField(
        _("idempotency key"), max_length=200, unique=True
    )
    state: models.CharField[str, str] = models.CharField(
        _("state"), max_length=16, choices=QueuedState.choices, default=QueuedState.QUEUED
    )
    kind: models.CharField[str, str] = models.CharField(
        _("kind"), max_length=8, choices=MessageKind.choices
    )
    recipients: models.JSONField[list[str], list[str]] = models.JSONField(
        _("recipients"), default=list
    )
    envelope: models.JSONField[dict[str, object], dict[str, object]] = models.JSONField(
        _("envelope"), default=dict, editable=False
    )
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        _("attempts"), default=0
    )
    provider_ids: models.JSONField[list[str], list[str]] = models.JSONField(
        _("2Factor ids"), default=list
    )
    error: models.CharField[str, str] = models.CharField(_("error"), max_length=500, blank=True)
    token: models.CharField[str, str] = models.CharField(
        _("claim token"), max_length=64, blank=True, editable=False
    )
    lease_until: models.FloatField[float, float] = models.FloatField(
        _("lease until (POSIX time)"), default=0.0
    )
    note: models.CharField[str, str] = models.CharField(_("note"), max_length=500, blank=True)
    resent_as: models.CharField[str, str] = models.CharField(
        _("sent again as"), max_length=200, blank=True
    )
    resent_by: models.CharField[str, str] = models.CharField(
        _("sent again by"), max_length=150, blank=True
    )
    resent_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("sent again at"), null=True, blank=True
    )
    created_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("queued"), auto_now_add=True, db_index=True
    )
    updated_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("updated"), db_index=True
    )

    class Meta:
        verbose_name = _("queued SMS")
        verbose_name_plural = _("queued SMS")
        ordering = ("-created_at", "-id")
        permissions = [
            ("resolve_queuedmessage", _("Can resolve or send again an unknown outcome")),
        ]
        indexes = [models.Index(fields=["state", "updated_at"], name="tfn_queued_state")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class OutboxMessage(models.Model):
    """A message queued in the background that no task queue has taken yet: the outbox.

    The row is written in the caller's transaction with the envelope, and deleted once the
    queue engine took the envelope (right after the commit). A row that stays means the
    hand-over failed (``attempts``, ``error``: the queue's error class) or the process died
    before it: :func:`django_twofactor.outbox.republish` hands it over again. An OTP with a
    code of its own gets no row (no model holds an OTP value).
    """

    key: models.CharField[str, str] = models.CharField(
        _("idempotency key"), max_length=200, unique=True
    )
    kind: models.CharField[str, str] = models.CharField(
        _("kind"), max_length=8, choices=MessageKind.choices
    )
    envelope: models.JSONField[dict[str, object], dict[str, object]] = models.JSONField(
        _("envelope"), editable=False
    )
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        _("failed hand-overs"), default=0
    )
    error: models.CharField[str, str] = models.CharField(_("last error"), max_length=64, blank=True)
    tried_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("last tried"), null=True, blank=True
    )
    created_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        _("queued"), auto_now_add=True, db_index=True
    )

    class Meta:
        verbose_name = _("SMS waiting for the task queue")
        verbose_name_plural = _("SMS waiting for the task queue")
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.key} ({self.attempts} failed hand-overs)"
