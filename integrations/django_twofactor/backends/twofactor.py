"""The production backend: sends through 2Factor.in (or its emulator, via ``BASE_URL``)."""

from __future__ import annotations

from typing import Any

from twofactor_notify.transport import Transport, TwoFactorTransport

from .base import BaseSMSBackend

__all__ = ["SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """The core builder's ``2factor`` transport: a :class:`TwoFactorTransport` around a
    client made from ``API_KEY``, ``BASE_URL``, ``TIMEOUT``, ``SECRET_KEY``,
    ``ENCRYPTION_MODE``, ``REGION`` and ``RATE_LIMIT``."""

    transport: TwoFactorTransport

    def build_transport(self, **options: Any) -> Transport:
        """A :class:`TwoFactorTransport` around a client configured from the settings."""
        return self.build_core_transport("2factor")
