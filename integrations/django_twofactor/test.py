"""Making sure a test suite never sends a real SMS.

Three ways, like Django's own test set-up for e-mail (which switches ``EMAIL_BACKEND`` to
locmem and empties ``mail.outbox``):

* the test runner: ``TEST_RUNNER = "django_twofactor.test.TwoFactorTestRunner"`` switches
  ``TWOFACTOR_NOTIFY['BACKEND']`` to ``locmem`` for the whole run;
* :class:`TwoFactorTestMixin` for ``TestCase`` classes (locmem per test, empty outbox);
* the pytest fixtures in :mod:`django_twofactor.pytest_plugin` (``sms_outbox``, and a
  session-wide switch to locmem).

A test that means to reach 2Factor (or the emulator) overrides the setting explicitly.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import override_settings
from django.test.runner import DiscoverRunner

from twofactor_notify.models import Message

from .backends import get_backend
from .backends import locmem as _locmem
from .conf import SETTING_NAME, reset_settings

__all__ = [
    "TwoFactorTestMixin",
    "TwoFactorTestRunner",
    "locmem_settings",
    "setup_test_environment",
    "teardown_test_environment",
]

_SAVED = "_django_twofactor_saved_setting"
_MISSING = object()


def locmem_settings() -> dict[str, Any]:
    """The current ``TWOFACTOR_NOTIFY`` with ``BACKEND`` set to ``locmem``."""
    current = dict(getattr(settings, SETTING_NAME, None) or {})
    current["BACKEND"] = "locmem"
    return current


def setup_test_environment() -> None:
    """Switch the backend to locmem for the rest of the process and empty the outbox."""
    if hasattr(_locmem, _SAVED):
        return
    setattr(_locmem, _SAVED, getattr(settings, SETTING_NAME, _MISSING))
    setattr(settings, SETTING_NAME, locmem_settings())
    _locmem.outbox = []
    reset_settings()


def teardown_test_environment() -> None:
    """Undo :func:`setup_test_environment`."""
    if not hasattr(_locmem, _SAVED):
        return
    saved = getattr(_locmem, _SAVED)
    delattr(_locmem, _SAVED)
    if saved is _MISSING:
        delattr(settings, SETTING_NAME)
    else:
        setattr(settings, SETTING_NAME, saved)
    _locmem.outbox = []
    reset_settings()


class TwoFactorTestRunner(DiscoverRunner):
    """Django's test runner, plus the SMS backend switched to locmem for the run."""

    def setup_test_environment(self, **kwargs: Any) -> None:
        """Django's set-up, then :func:`setup_test_environment`."""
        super().setup_test_environment(**kwargs)
        setup_test_environment()

    def teardown_test_environment(self, **kwargs: Any) -> None:
        """:func:`teardown_test_environment`, then Django's."""
        teardown_test_environment()
        super().teardown_test_environment(**kwargs)


class TwoFactorTestMixin:
    """Mix into a ``SimpleTestCase``/``TestCase``: each test runs on the locmem backend.

    ``self.sms_outbox`` is the list of messages sent during the test and
    ``self.last_otp(phone)`` the code most recently sent to a number.
    """

    def setUp(self) -> None:
        """Override ``TWOFACTOR_NOTIFY`` to locmem and empty the outbox."""
        super().setUp()  # type: ignore[misc]
        self.enterContext(override_settings(**{SETTING_NAME: locmem_settings()}))  # type: ignore[attr-defined]
        _locmem.outbox = []

    @property
    def sms_outbox(self) -> list[Message]:
        """Messages sent through the locmem backend during this test."""
        return _locmem.outbox

    def last_otp(self, phone: str) -> str | None:
        """The OTP most recently "sent" to ``phone`` by the locmem backend."""
        transport = get_backend().transport
        assert isinstance(transport, _locmem.LocmemTransport)
        return transport.last_otp(phone)
