"""pytest fixtures that keep a Django test run from sending real SMS.

Enable them in the project's top ``conftest.py``::

    pytest_plugins = ["django_twofactor.pytest_plugin"]

* ``_twofactor_locmem_backend`` (session, autouse): switches ``TWOFACTOR_NOTIFY['BACKEND']``
  to ``locmem`` for the whole run, as Django's test runner does for e-mail (pytest-django's
  own test set-up does it too; ``LOCMEM_IN_TESTS = False`` opts out);
* ``_twofactor_fresh_counters`` (autouse): empties the locmem outbox and starts the
  send-limit and login counters afresh before every test (as pytest-django empties
  ``mail.outbox``), so a suite's fourth login is not refused (429) for the three before and
  no test sees another's messages;
* ``sms_outbox``: the (emptied) list of messages sent during the test, on the locmem
  backend;
* ``sms_last_otp``: ``sms_last_otp(phone)`` gives the code last sent to a number.

A test that means to reach the emulator overrides the setting (``settings`` fixture or
``override_settings``) and gets that backend for its duration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from twofactor_notify.models import Message

__all__ = ["sms_last_otp", "sms_outbox"]


def _django_configured() -> bool:
    try:
        from django.conf import settings

        return bool(settings.configured)
    except ImportError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _twofactor_locmem_backend() -> Iterator[None]:
    """Switch the SMS backend to locmem for the session (when Django is configured)."""
    if not _django_configured():
        yield
        return
    from .test import setup_test_environment, teardown_test_environment

    setup_test_environment()
    try:
        yield
    finally:
        teardown_test_environment()


@pytest.fixture(autouse=True)
def _twofactor_fresh_counters() -> None:
    """Empty the locmem outbox and start the counters afresh (when Django is configured)."""
    if not _django_configured():
        return
    from django.apps import apps

    if not apps.ready or not apps.is_installed("django_twofactor"):
        return
    from .backends import locmem
    from .throttle import reset_counters

    locmem.outbox = []
    reset_counters()


@pytest.fixture
def sms_outbox() -> Iterator[list[Message]]:
    """The locmem outbox, emptied, with the locmem backend in force for the test."""
    from .backends import locmem
    from .test import locmem_switch

    with locmem_switch():
        yield locmem.outbox
    locmem.outbox = []


@pytest.fixture
def sms_last_otp(sms_outbox: list[Message]) -> Callable[[str], str | None]:
    """``sms_last_otp(phone)``: the OTP last sent to ``phone`` on the locmem backend."""
    from .backends import get_backend
    from .backends.locmem import LocmemTransport

    def last_otp(phone: str) -> str | None:
        transport = get_backend().transport
        if not isinstance(transport, LocmemTransport):
            raise RuntimeError(
                "last_otp reads the locmem backend, but this test sends through "
                f"{type(transport).__name__} (TWOFACTOR_NOTIFY was overridden?)"
            )
        return transport.last_otp(phone)

    return last_otp
