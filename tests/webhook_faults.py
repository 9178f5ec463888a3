"""What the webhook tests of both frameworks share: a request body that breaks while it is
read (an error inside the view), and the text of captured log records."""

from __future__ import annotations

import logging
from collections.abc import Iterable

__all__ = ["BrokenInput", "logged_text"]


class BrokenInput:
    """A WSGI input stream that fails on the first read, as a server's broken input does."""

    def read(self, *args: object) -> bytes:
        raise RuntimeError("the input stream broke while the body was read")

    readline = read

    def readinto(self, buffer: object) -> int:
        raise RuntimeError("the input stream broke while the body was read")


def logged_text(records: Iterable[logging.LogRecord]) -> str:
    """Every record as a handler would write it: message, arguments, traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)
