"""Identifiers in the shapes 2Factor issues them.

* API keys and OTP session ids: UUID-like (``ab88279e-0105-415f-912e-2f24162b8cbb``);
* R1 request ids: 32 hex digits (``09cfe5b29d000018a3acb36000000001``);
* bulk request ids: UUIDs, each message ``{requestId}-{n}``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import uuid

__all__ = ["new_api_key", "new_r1_id", "new_secret_key", "new_session_id", "new_uuid"]

_counter = itertools.count(1)
_counter_lock = threading.Lock()
_NODE = os.urandom(8).hex()


def new_uuid() -> str:
    """A random UUID string (bulk request ids)."""
    return str(uuid.uuid4())


def new_session_id() -> str:
    """An OTP session id, UUID-like as in the reference's examples."""
    return str(uuid.uuid4())


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
