"""Prints each message to stdout (OTP masked unless ``SHOW_OTP``); for development."""

from __future__ import annotations

from typing import IO, Any

from twofactor_notify.transport import ConsoleTransport, Transport

from ..conf import TwoFactorSettings
from .base import BaseSMSBackend

__all__ = ["SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """Wraps a core :class:`ConsoleTransport`; OTPs it "sent" verify in this process.

    :param stream: where to print (default: ``sys.stdout`` at send time).
    """

    transport: ConsoleTransport

    def __init__(
        self,
        *,
        stream: IO[str] | None = None,
        fail_silently: bool = False,
        config: TwoFactorSettings | None = None,
    ) -> None:
        self.stream = stream
        super().__init__(fail_silently=fail_silently, config=config)

    def build_transport(self, **options: Any) -> Transport:
        """The core builder's ``console`` transport, writing to :attr:`stream`."""
        return self.build_core_transport("console", stream=self.stream)
