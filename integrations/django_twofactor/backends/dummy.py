"""Accepts every message and does nothing with it (a core :class:`NullTransport`)."""

from __future__ import annotations

from typing import Any

from twofactor_notify.transport import NullTransport

from .base import BaseSMSBackend

__all__ = ["SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """Sends nothing; hooks still fire. Verifications never match."""

    def build_transport(self, **options: Any) -> NullTransport:
        """A :class:`NullTransport`."""
        return NullTransport(**options)
