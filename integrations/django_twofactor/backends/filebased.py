"""Writes each message as one JSON line (``message.to_dict()``) to a file in ``FILE_PATH``.

One file per backend instance, named ``<timestamp>-<id>.jsonl``, like Django's file email
backend. An OTP value a caller chose is masked (``SHOW_OTP`` shows it); OTPs the backend
generates are never written, and verify in this process as with the locmem backend.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from twofactor_notify.errors import ConfigurationError
from twofactor_notify.models import Message, Receipt
from twofactor_notify.transport import InMemoryTransport

from .base import BaseSMSBackend

__all__ = ["FileTransport", "SMSBackend"]


class FileTransport(InMemoryTransport):
    """An :class:`InMemoryTransport` that also appends each message to :attr:`path`."""

    def __init__(self, *, path: Path, show_otp: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.show_otp = show_otp
        self._file_lock = threading.Lock()

    def _deliver(self, message: Message) -> Receipt:
        receipt = super()._deliver(message)
        data = message.to_dict()
        if data.get("otp") and not self.show_otp:
            data["otp"] = "*" * len(str(data["otp"]))
        line = json.dumps(data, ensure_ascii=False, sort_keys=True)
        with self._file_lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return receipt


class SMSBackend(BaseSMSBackend):
    """Appends messages to a JSON-lines file under ``TWOFACTOR_NOTIFY['FILE_PATH']``."""

    transport: FileTransport

    def build_transport(self, **options: Any) -> FileTransport:
        """A :class:`FileTransport` writing to a new file in ``FILE_PATH``."""
        directory = self.config.file_path
        if not directory:
            raise ConfigurationError(
                "TWOFACTOR_NOTIFY['FILE_PATH'] is required by the file backend"
            )
        folder = Path(directory)
        if folder.exists() and not folder.is_dir():
            raise ConfigurationError("TWOFACTOR_NOTIFY['FILE_PATH'] is not a directory")
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"{stamp}-{id(self)}-{os.getpid()}.jsonl"
        return FileTransport(path=path, show_otp=self.config.show_otp, **options)
