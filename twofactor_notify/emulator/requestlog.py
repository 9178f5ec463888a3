"""The log of API requests the emulator answered, with API keys redacted."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REDACTED", "RequestLog", "RequestLogEntry", "redact"]

REDACTED = "<redacted>"
_V1_KEY = re.compile(r"(?i)^(/+API/+V1/+)[^/?]+")
_QUERY_KEY = re.compile(r"(?i)((?:^|[&;])apikey=)[^&]*")


def redact(path: str, query: str = "", secrets: Iterable[str] = ()) -> str:
    """``path?query`` with the V1 path key, any ``apikey=`` value and every one of
    ``secrets`` (the emulator passes its accounts' API and secret keys, longest first)
    replaced: the patterns alone miss near-miss paths (``/api/v1/``, ``%61pikey=``...)."""
    clean = _V1_KEY.sub(r"\1" + REDACTED, path)
    if query:
        clean += "?" + _QUERY_KEY.sub(r"\1" + REDACTED, query)
    for secret in secrets:
        if secret and secret in clean:
            clean = clean.replace(secret, REDACTED)
    return clean


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One answered (or deliberately unanswered) API request.

    ``status`` is ``None`` when a fault closed the connection without an answer; ``fault``
    names the fault that hit the request, if any.
    """

    method: str
    path: str
    status: int | None
    duration_ms: float
    fault: str | None = None
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The entry as the inspection API returns it."""
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "fault": self.fault,
            "time": self.time,
        }


class RequestLog:
    """The latest ``size`` entries, thread-safe.

    Each :meth:`clear` starts a new *generation*. A request that arrived before a clear but is
    logged after it (one held by a latency fault while its client gave up, say) belongs to the
    old generation and is dropped: what one test sent never shows up in the next test's log.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[RequestLogEntry] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """The current generation (bumped by :meth:`clear`)."""
        return self._generation

    def add(self, entry: RequestLogEntry, generation: int | None = None) -> None:
        """Append an entry (the oldest falls off when full), unless ``generation`` (taken when
        the request arrived) is older than the current one."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._entries.append(entry)

    def entries(self) -> list[RequestLogEntry]:
        """The entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry, and every request still being answered."""
        with self._lock:
            self._entries.clear()
            self._generation += 1
