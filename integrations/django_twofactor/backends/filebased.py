"""Writes each message as one JSON line (``message.to_dict()``) to a file in ``FILE_PATH``.

The core builder's ``file`` transport (:class:`twofactor_notify.transport.FileTransport`):
one file per backend instance, named ``<timestamp>-<id>-<pid>.jsonl``, like Django's file
e-mail backend. An OTP value a caller chose is masked (``SHOW_OTP`` shows it); OTPs the
backend generates are never written, and verify in this process as with the locmem backend.
"""

from __future__ import annotations

from typing import Any

from twofactor_notify.transport import FileTransport, Transport

from .base import BaseSMSBackend

__all__ = ["FileTransport", "SMSBackend"]


class SMSBackend(BaseSMSBackend):
    """Appends messages to a JSON-lines file under ``TWOFACTOR_NOTIFY['FILE_PATH']``."""

    transport: FileTransport

    def build_transport(self, **options: Any) -> Transport:
        """The core builder's ``file`` transport, writing to a new file in ``FILE_PATH``."""
        return self.build_core_transport("file")
