"""Built-in plugins: :class:`LoggingPlugin` (redacted send log) and :class:`SendGuard`
(limits against SMS pumping)."""

from __future__ import annotations

from .guard import CounterStore, InMemoryCounterStore, SendGuard
from .logging import LoggingPlugin

__all__ = ["CounterStore", "InMemoryCounterStore", "LoggingPlugin", "SendGuard"]
