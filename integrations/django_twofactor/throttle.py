"""Per-phone-number counters in Django's cache: login attempts (lock-out) and code sends.

Keys hold a hash of the E.164 number, never the number itself. Counters live in the cache
named by ``TWOFACTOR_NOTIFY['CACHE_ALIAS']``; use a shared cache (Redis, Memcached, the
database cache) when more than one process serves logins.

How a counter works (the same for login attempts and code sends):

* a *window* key holds the time the window opened; it is written once with ``add()`` and an
  explicit timeout (the window length), so it expires when the window ends whatever the
  cache's default ``TIMEOUT`` is;
* the count itself lives under a key that names that window, and is bumped with ``incr()``
  (atomic on Redis, Memcached and the local-memory cache). ``BaseCache.incr()`` rewrites
  the value with the cache's *default* timeout on the database and file caches, so every
  bump is followed by ``touch()`` with the window length; and since a new window uses a new
  count key, a stale count can never outlive its window anyway.

A lock-out is a separate key written with ``timeout=LOGIN_LOCKOUT_SECONDS`` when a number
reaches ``LOGIN_MAX_ATTEMPTS`` attempts: it lasts the full lock-out from that attempt, not
from the first failure.

:func:`reset_counters` makes this process start every counter afresh; the test tools of
:mod:`django_twofactor.test` call it before each test, so a suite's fourth login test is
not refused for the three before it.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from django.core.cache import BaseCache, InvalidCacheBackendError, caches

from twofactor_notify.errors import ConfigurationError

from .conf import get_settings

__all__ = [
    "attempt_count",
    "clear_failures",
    "failure_count",
    "is_locked_out",
    "record_attempt",
    "record_failure",
    "record_send",
    "release_attempt",
    "reset_counters",
    "reset_sends",
]

# Part of every key; reset_counters() changes it, so earlier counts are no longer seen.
_generation = ""


def _cache() -> BaseCache:
    alias = get_settings().cache_alias
    try:
        return caches[alias]
    except InvalidCacheBackendError:
        raise ConfigurationError(
            f"TWOFACTOR_NOTIFY['CACHE_ALIAS'] = {alias!r} is not a cache in settings.CACHES",
            key="TWOFACTOR_NOTIFY['CACHE_ALIAS']",
        ) from None


def _key(kind: str, phone: str) -> str:
    digest = hashlib.sha256(phone.encode("utf-8")).hexdigest()[:32]
    return f"django_twofactor:{kind}:{_generation}{digest}"


def reset_counters() -> None:
    """Start every login-attempt, lock-out and send counter afresh, in this process.

    For tests: the counts made before are no longer seen (the entries expire on their own
    timeouts), whatever the cache; nothing else in the cache is touched. Other processes
    sharing the cache keep their counts, so do not call it in production.
    """
    global _generation
    _generation = f"t{secrets.token_hex(6)}-"


def _window_key(cache: BaseCache, key: str) -> str | None:
    """The count key of the window ``key`` is in now; ``None`` when no window is open."""
    opened = cache.get(f"{key}:window")
    return None if opened is None else f"{key}:{opened}"


def _bump(key: str, timeout: int) -> int:
    """Add one to the count of the current window of ``key`` (opening one if needed)."""
    cache = _cache()
    timeout = max(int(timeout), 1)
    window = f"{key}:window"
    for _ in range(3):  # a window that closes between two calls is opened again
        opened = f"{time.time():.6f}"
        if not cache.add(window, opened, timeout=timeout):
            current = cache.get(window)
            if current is None:
                continue
            opened = str(current)
        count_key = f"{key}:{opened}"
        if cache.add(count_key, 1, timeout=timeout):
            return 1
        try:
            value = int(cache.incr(count_key))
        except ValueError:  # the count expired between add() and incr()
            continue
        # incr() may have rewritten the entry with the cache's default timeout
        cache.touch(count_key, timeout=timeout)
        return value
    return 1


def _count(key: str) -> int:
    cache = _cache()
    count_key = _window_key(cache, key)
    return 0 if count_key is None else int(cache.get(count_key, 0))


def _forget(key: str) -> None:
    cache = _cache()
    count_key = _window_key(cache, key)
    keys = [f"{key}:window"] + ([count_key] if count_key else [])
    cache.delete_many(keys)


# ------------------------------------------------------------------ login attempts


def attempt_count(phone: str) -> int:
    """Login attempts recorded for ``phone`` (E.164) in the current window."""
    return _count(_key("fail", phone))


#: Old name of :func:`attempt_count` (an attempt counts until it succeeds).
failure_count = attempt_count


def is_locked_out(phone: str) -> bool:
    """True while ``phone`` is locked out after ``LOGIN_MAX_ATTEMPTS`` attempts."""
    return _cache().get(_key("lock", phone)) is not None


def record_attempt(phone: str) -> int:
    """Count one login attempt for ``phone`` *before* its code is checked; returns the count.

    The caller must refuse the attempt when the count is over ``LOGIN_MAX_ATTEMPTS``: since
    the count is taken first, parallel requests cannot all pass a check made before any of
    them was counted. Reaching the maximum locks the number out for
    ``LOGIN_LOCKOUT_SECONDS`` from now. Attempts are counted within a window of
    ``LOGIN_LOCKOUT_SECONDS`` from the first one; a success clears them
    (:func:`clear_failures`).
    """
    config = get_settings()
    count = _bump(_key("fail", phone), config.login_lockout_seconds)
    if count >= config.login_max_attempts:
        _cache().set(_key("lock", phone), 1, timeout=max(config.login_lockout_seconds, 1))
    return count


#: Old name of :func:`record_attempt`.
record_failure = record_attempt


def release_attempt(phone: str) -> None:
    """Un-count an attempt whose code could not be checked (2Factor unreachable)."""
    config = get_settings()
    cache = _cache()
    count_key = _window_key(cache, _key("fail", phone))
    if count_key is None:
        return
    try:
        count = int(cache.decr(count_key))
    except ValueError:  # the window closed meanwhile
        return
    cache.touch(count_key, timeout=max(config.login_lockout_seconds, 1))
    if count < config.login_max_attempts:
        cache.delete(_key("lock", phone))


def clear_failures(phone: str) -> None:
    """Forget the attempts and any lock-out of ``phone`` (after a successful login)."""
    _forget(_key("fail", phone))
    _cache().delete(_key("lock", phone))


# ------------------------------------------------------------------ code sends


def record_send(phone: str) -> bool:
    """Count one code request for ``phone``; ``False`` when over ``SEND_LIMIT`` per window.

    The window is ``SEND_WINDOW_SECONDS`` from the first request counted in it.
    """
    config = get_settings()
    return _bump(_key("send", phone), config.send_window_seconds) <= config.send_limit


def reset_sends(phone: str) -> None:
    """Forget the code requests counted for ``phone``."""
    _forget(_key("send", phone))
