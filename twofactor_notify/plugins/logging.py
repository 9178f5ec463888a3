"""A plugin that logs every send and delivery report, with personal data masked.

Log lines carry the message kind, the recipients' last four digits, the 2Factor id and the
outcome; never the API key, an OTP value or the message text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..hooks import hookimpl
from ..models import (
    BulkBatch,
    BulkResult,
    ClickReport,
    DeliveryReport,
    Message,
    OTPMessage,
    OTPSent,
    Receipt,
    SMSSent,
)

if TYPE_CHECKING:
    from ..transport import Transport

__all__ = ["LoggingPlugin", "mask_number"]


def mask_number(e164: str) -> str:
    """``+919876543210`` -> ``+91******3210``: enough to match a complaint, not to dial."""
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]


def _describe(message: Message) -> str:
    if isinstance(message, OTPMessage):
        return f"otp to {mask_number(message.to)}"
    if isinstance(message, BulkBatch):
        return f"bulk batch of {len(message.messages)}"
    kind = "promotional sms" if message.promotional else "sms"
    return f"{kind} to {', '.join(mask_number(t) for t in message.to)}"


def _receipt_id(receipt: Receipt) -> str:
    if isinstance(receipt, OTPSent):
        return receipt.session_id
    if isinstance(receipt, SMSSent):
        return receipt.message_id
    assert isinstance(receipt, BulkResult)
    return f"{len(receipt.accepted)} accepted, {len(receipt.rejected)} rejected"


class LoggingPlugin:
    """Logs sends (INFO), failed sends (WARNING) and reports (INFO) to ``logger``."""

    def __init__(self, logger: logging.Logger | str = "twofactor_notify.sends") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def __repr__(self) -> str:
        return f"LoggingPlugin(logger={self.logger.name!r})"

    @hookimpl
    def after_send(
        self,
        message: Message,
        receipt: Receipt | None,
        error: BaseException | None,
        transport: Transport,
    ) -> None:
        """Log the outcome of a send."""
        if receipt is not None:
            self.logger.info("sent %s: %s", _describe(message), _receipt_id(receipt))
        else:
            # str() of our errors is secret-free by construction; other errors are named only.
            from ..errors import TwoFactorError

            reason = str(error) if isinstance(error, TwoFactorError) else type(error).__name__
            self.logger.warning("send failed, %s: %s", _describe(message), reason)

    @hookimpl
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Transport) -> None:
        """Log a delivery or click report."""
        if isinstance(report, DeliveryReport):
            self.logger.info(
                "delivery report %s for %s: %s",
                report.message_id,
                mask_number(report.to),
                report.raw_status or report.status.value,
            )
        else:
            self.logger.info(
                "click on campaign %s by %s", report.campaign_name, mask_number(report.phone)
            )
