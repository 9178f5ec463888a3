"""Accepts every message and does nothing with it (a core :class:`NullTransport`)."""

from __future__ import annotations

from typing import Any

from twofactor_notify.transport import Transport

from .base import BaseSMSBackend

__all__ = ["SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """Sends nothing; hooks still fire. Verifications never match."""

    def build_transport(self, **options: Any) -> Transport:
        """The core builder's ``null`` transport (a ``NullTransport``)."""
        return self.build_core_transport("null")
