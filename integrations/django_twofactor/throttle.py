"""Per-phone-number counters in Django's cache: failed logins (lock-out) and code sends.

Keys hold a hash of the E.164 number, never the number itself. Counters live in the cache
named by ``TWOFACTOR_NOTIFY['CACHE_ALIAS']``; use a shared cache (Redis, Memcached, the
database cache) when more than one process serves logins.
"""

from __future__ import annotations

import hashlib

from django.core.cache import BaseCache, caches

from .conf import get_settings

__all__ = [
    "clear_failures",
    "failure_count",
    "is_locked_out",
    "record_failure",
    "record_send",
    "reset_sends",
]


def _cache() -> BaseCache:
    return caches[get_settings().cache_alias]


def _key(kind: str, phone: str) -> str:
    digest = hashlib.sha256(phone.encode("utf-8")).hexdigest()[:32]
    return f"django_twofactor:{kind}:{digest}"


def _bump(key: str, timeout: int) -> int:
    cache = _cache()
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


def failure_count(phone: str) -> int:
    """Failed login attempts recorded for ``phone`` (E.164) in the current window."""
    return int(_cache().get(_key("fail", phone), 0))


def is_locked_out(phone: str) -> bool:
    """True when ``phone`` reached ``LOGIN_MAX_ATTEMPTS`` failures within the lock-out."""
    return failure_count(phone) >= get_settings().login_max_attempts


def record_failure(phone: str) -> int:
    """Count one failed login for ``phone``; the lock-out runs from the first failure."""
    return _bump(_key("fail", phone), get_settings().login_lockout_seconds)


def clear_failures(phone: str) -> None:
    """Forget the failures of ``phone`` (after a successful login)."""
    _cache().delete(_key("fail", phone))


def record_send(phone: str) -> bool:
    """Count one code request for ``phone``; ``False`` when over ``SEND_LIMIT`` per window."""
    config = get_settings()
    return _bump(_key("send", phone), config.send_window_seconds) <= config.send_limit


def reset_sends(phone: str) -> None:
    """Forget the code requests counted for ``phone``."""
    _cache().delete(_key("send", phone))
