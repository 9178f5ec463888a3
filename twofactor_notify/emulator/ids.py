"""Identifiers in the shapes 2Factor issues them.

* API keys and OTP session ids: UUID-like (``ab88279e-0105-415f-912e-2f24162b8cbb``);
* sandbox session ids: the sandbox section's form (``mf2djpsmqnrwmwob7z-978c24505cf48a13``);
* R1 request ids: 32 hex digits (``09cfe5b29d000018a3acb36000000001``);
* bulk request ids: UUIDs, each message ``{requestId}-{n}``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
import uuid

__all__ = [
    "new_api_key",
    "new_r1_id",
    "new_sandbox_session_id",
    "new_secret_key",
    "new_session_id",
    "new_uuid",
]

_counter = itertools.count(1)
_counter_lock = threading.Lock()
_NODE = os.urandom(8).hex()


def new_uuid() -> str:
    """A random UUID string (bulk request ids)."""
    return str(uuid.uuid4())


def new_session_id() -> str:
    """An OTP session id, UUID-like as in the reference's examples."""
    return str(uuid.uuid4())


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_sandbox_session_id() -> str:
    """A session id of the sandbox section's form, e.g. ``mf2djpsmqnrwmwob7z-978c24505cf48a13``.

    18 lower-case letters and digits, ``-``, 16 hex digits, as in the section's examples. The
    first 8 characters are the time in milliseconds in base 36 (so ids sort by time, as the
    section's ``mf2d...`` ids of one session do), the rest random.
    """
    millis = time.time_ns() // 1_000_000
    stamp = ""
    while millis:
        millis, digit = divmod(millis, 36)
        stamp = _BASE36[digit] + stamp
    head = stamp[-8:].rjust(8, "0") + "".join(secrets.choice(_BASE36) for _ in range(10))
    return f"{head}-{secrets.token_hex(8)}"


def new_api_key() -> str:
    """A random API key, UUID-like as the reference's keys are."""
    return str(uuid.uuid4())


def new_secret_key() -> str:
    """A random secret key for the encrypted endpoints (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def new_r1_id() -> str:
    """A 32-hex-digit R1 request id: a random node part and a growing counter."""
    with _counter_lock:
        n = next(_counter)
    return f"{_NODE}{n:016x}"
