"""The production backend: sends through 2Factor.in (or its emulator, via ``BASE_URL``)."""

from __future__ import annotations

from typing import Any

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import TwoFactorTransport

from .base import BaseSMSBackend

__all__ = ["SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """Wraps ``TwoFactorTransport(TwoFactorClient(API_KEY, base_url=BASE_URL, ...))``."""

    transport: TwoFactorTransport

    def build_transport(self, **options: Any) -> TwoFactorTransport:
        """A :class:`TwoFactorTransport` around a client configured from the settings."""
        config = self.config
        if not config.api_key:
            raise ConfigurationError(
                "TWOFACTOR_NOTIFY['API_KEY'] is required by the 2factor backend"
            )
        client = TwoFactorClient(
            config.api_key,
            base_url=config.base_url,
            timeout=config.timeout,
            secret_key=config.secret_key,
            region=config.region,
            rate_limit=config.rate_limit,
        )
        return TwoFactorTransport(client, **options)
