"""SMS backends, chosen by ``TWOFACTOR_NOTIFY['BACKEND']``, and the process-wide instance.

=========== ====================================================== ===========================
name        class                                                  transport
=========== ====================================================== ===========================
``2factor`` :class:`django_twofactor.backends.twofactor.SMSBackend` ``TwoFactorTransport``
``console`` :class:`django_twofactor.backends.console.SMSBackend`   ``ConsoleTransport``
``locmem``  :class:`django_twofactor.backends.locmem.SMSBackend`    in memory, ``outbox``
``file``    :class:`django_twofactor.backends.filebased.SMSBackend` JSON lines in ``FILE_PATH``
``dummy``   :class:`django_twofactor.backends.dummy.SMSBackend`     ``NullTransport``
=========== ====================================================== ===========================

:func:`get_backend` returns one backend per process, built on first use under a lock and
rebuilt after the setting changes.
"""

from __future__ import annotations

import threading

from django.utils.module_loading import import_string

from twofactor_notify.errors import ConfigurationError

from ..conf import TwoFactorSettings, get_settings, on_reset
from .base import BaseSMSBackend

__all__ = ["BaseSMSBackend", "get_backend", "load_backend", "reset_backend"]

_lock = threading.Lock()
_backend: BaseSMSBackend | None = None


def load_backend(
    config: TwoFactorSettings | None = None, *, fail_silently: bool = False
) -> BaseSMSBackend:
    """Build a new backend from ``config`` (default: the current settings)."""
    config = config or get_settings()
    try:
        cls = import_string(config.backend_path)
    except ImportError as exc:
        raise ConfigurationError(
            f"TWOFACTOR_NOTIFY['BACKEND'] = {config.backend!r} could not be imported: {exc}",
            key="TWOFACTOR_NOTIFY['BACKEND']",
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, BaseSMSBackend)):
        raise ConfigurationError(
            f"TWOFACTOR_NOTIFY['BACKEND'] = {config.backend!r} is not an SMS backend class",
            key="TWOFACTOR_NOTIFY['BACKEND']",
        )
    return cls(fail_silently=fail_silently, config=config)


def get_backend() -> BaseSMSBackend:
    """The process-wide backend (thread-safe; rebuilt when ``TWOFACTOR_NOTIFY`` changes)."""
    global _backend
    backend = _backend
    if backend is not None:
        return backend
    with _lock:
        if _backend is None:
            _backend = load_backend()
        return _backend


@on_reset
def reset_backend() -> None:
    """Close and forget the process-wide backend; the next use builds a new one."""
    global _backend
    with _lock:
        backend, _backend = _backend, None
    if backend is not None:
        backend.close()
