"""Keeps messages in memory, in the module-level :data:`outbox` (like ``mail.outbox``).

The test runner, :class:`~django_twofactor.test.TwoFactorTestMixin` and the pytest fixture
switch to this backend and empty :data:`outbox` before each test::

    from django_twofactor.backends import locmem
    assert locmem.outbox[0].to == "+919876543210"
"""

from __future__ import annotations

import sys
from typing import Any

from twofactor_notify.models import Message, Receipt
from twofactor_notify.transport import InMemoryTransport, Transport

from .base import BaseSMSBackend

__all__ = ["LocmemTransport", "SMSBackend", "outbox"]

#: Every message sent through a locmem backend in this process, in order.
outbox: list[Message] = []


class LocmemTransport(InMemoryTransport):
    """An :class:`InMemoryTransport` that also appends to the module's :data:`outbox`.

    The module attribute is looked up at each send, so a test may replace the list.
    """

    def _deliver(self, message: Message) -> Receipt:
        receipt = super()._deliver(message)
        sys.modules[__name__].outbox.append(message)
        return receipt


class SMSBackend(BaseSMSBackend):
    """Sends into :data:`outbox`; OTPs it "sent" verify (``transport.last_otp(phone)``)."""

    transport: LocmemTransport

    def build_transport(self, **options: Any) -> Transport:
        """The core builder's ``memory`` transport, as a :class:`LocmemTransport`."""
        return self.build_core_transport("memory", transport_class=LocmemTransport)
