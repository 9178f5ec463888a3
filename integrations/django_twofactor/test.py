"""Making sure a test suite never sends a real SMS.

By default, with nothing to configure: Django's own test set-up (``manage.py test``'s
runner, pytest-django), which switches ``EMAIL_BACKEND`` to locmem and empties
``mail.outbox``, switches ``TWOFACTOR_NOTIFY['BACKEND']`` to ``locmem`` as well
(:mod:`django_twofactor.testenv`). ``TWOFACTOR_NOTIFY['LOCMEM_IN_TESTS'] = False`` opts a
suite out. The tools below add a per-test outbox and fresh send and login counters:

* the test runner: ``TEST_RUNNER = "django_twofactor.test.TwoFactorTestRunner"`` switches
  ``TWOFACTOR_NOTIFY['BACKEND']`` to ``locmem`` for the whole run, in the parallel workers
  of ``test --parallel`` as well (also when they are started with ``spawn`` or
  ``forkserver``, the default on macOS and Windows, where a worker imports the settings
  afresh: :class:`TwoFactorParallelTestSuite` switches each worker as it starts);
* :class:`TwoFactorTestMixin` for ``TestCase`` classes (locmem per test, empty outbox,
  fresh counters);
* the pytest fixtures in :mod:`django_twofactor.pytest_plugin` (``sms_outbox``, fresh
  counters before every test, and a session-wide switch to locmem).

A test that means to reach 2Factor (or the emulator) overrides the setting explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.test.runner import DiscoverRunner, ParallelTestSuite

from twofactor_notify.config import parse_bool
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.models import Message

from .backends import get_backend
from .backends import locmem as _locmem
from .conf import (
    SETTING_NAME,
    clear_test_switch,
    set_test_switch,
    settings_errors,
    switched_to_locmem,
)
from .throttle import reset_counters

__all__ = [
    "TwoFactorParallelTestSuite",
    "TwoFactorTestMixin",
    "TwoFactorTestRunner",
    "check_configured_settings",
    "locmem_settings",
    "locmem_switch",
    "reset_counters",
    "sends_for_real_in_tests",
    "setup_test_environment",
    "teardown_test_environment",
]


def locmem_settings() -> dict[str, Any]:
    """The current ``TWOFACTOR_NOTIFY`` with ``BACKEND`` set to ``locmem``."""
    current = dict(getattr(settings, SETTING_NAME, None) or {})
    current["BACKEND"] = "locmem"
    return current


def sends_for_real_in_tests() -> bool:
    """True when ``TWOFACTOR_NOTIFY['LOCMEM_IN_TESTS']`` is false: the suite's explicit
    opt-out of the automatic switch to locmem."""
    raw = getattr(settings, SETTING_NAME, None)
    if not isinstance(raw, Mapping) or "LOCMEM_IN_TESTS" not in raw:
        return False
    try:
        return not parse_bool(raw["LOCMEM_IN_TESTS"], "LOCMEM_IN_TESTS")
    except ConfigurationError:
        return False  # malformed: the system checks say so; stay on the safe side


def check_configured_settings() -> None:
    """Refuse a ``TWOFACTOR_NOTIFY`` that production would refuse, before switching to locmem.

    The switch replaces only which backend sends; the configured setting is checked as
    configured, so a test run fails where production fails.

    :raises ConfigurationError: naming the first malformed key (``manage.py check`` lists
        them all).
    """
    from .checks import backend_problem

    raw = getattr(settings, SETTING_NAME, None)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigurationError(f"settings.{SETTING_NAME} must be a dict", key=SETTING_NAME)
    errors = settings_errors(raw)
    problem = None if errors else backend_problem((raw or {}).get("BACKEND", "2factor"))
    del raw  # no setting (an API key) in the frame the error leaves
    if problem is not None:
        errors = [problem]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigurationError(
            f"{first.message.rstrip('.')}{more}; the test run checks {SETTING_NAME} as "
            "configured before it switches to locmem (manage.py check lists every problem)",
            key=first.key,
        )


@contextmanager
def locmem_switch() -> Iterator[None]:
    """Send through locmem while the current ``TWOFACTOR_NOTIFY`` is in force (checked
    first, as configured: :func:`check_configured_settings`); the switch in force before
    comes back on exit."""
    check_configured_settings()
    previous = set_test_switch(getattr(settings, SETTING_NAME, None))
    _locmem.outbox = []
    try:
        yield
    finally:
        set_test_switch(previous)


def setup_test_environment() -> None:
    """Check the configured setting, then switch the backend to locmem for the rest of the
    process, empty the outbox and start the send and login counters afresh.

    Django's own ``setup_test_environment()`` calls it (see :mod:`django_twofactor.testenv`),
    as do the runner and the pytest plugin. Nothing is switched when
    ``TWOFACTOR_NOTIFY['LOCMEM_IN_TESTS']`` is false. The setting itself is left as
    configured, so the system checks (which ``manage.py test`` runs) check it.

    :raises ConfigurationError: when the configured setting is malformed.
    """
    reset_counters()
    if switched_to_locmem() or sends_for_real_in_tests():
        return
    check_configured_settings()
    set_test_switch(getattr(settings, SETTING_NAME, None))
    _locmem.outbox = []


def teardown_test_environment() -> None:
    """Undo :func:`setup_test_environment`."""
    if not switched_to_locmem():
        return
    clear_test_switch()
    _locmem.outbox = []


def _setup_worker(*args: Any) -> None:
    """``process_setup`` of a parallel test worker: switch it to locmem.

    Django calls it in each worker started with ``spawn`` or ``forkserver``, before its own
    ``django.setup()`` and ``setup_test_environment()`` (a forked worker inherits the switch
    made in the parent). It lives at module level, importable without the app registry,
    because ``multiprocessing`` pickles it by name.
    """
    setup_test_environment()


class TwoFactorParallelTestSuite(ParallelTestSuite):
    """Django's parallel suite whose workers use the locmem SMS backend.

    Subclass it (and set your runner's ``parallel_test_suite``) to add your own per-worker
    set-up: call :func:`setup_test_environment` from your ``process_setup``.
    """

    process_setup = _setup_worker


class TwoFactorTestRunner(DiscoverRunner):
    """Django's test runner, plus the SMS backend switched to locmem for the run (and in
    every parallel worker)."""

    parallel_test_suite = TwoFactorParallelTestSuite

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
        """Switch the configured ``TWOFACTOR_NOTIFY`` to locmem (:func:`locmem_switch`, which
        checks it first), empty the outbox, and start the send and login counters afresh
        (:func:`~django_twofactor.throttle.reset_counters`)."""
        super().setUp()  # type: ignore[misc]
        self.enterContext(locmem_switch())  # type: ignore[attr-defined]
        reset_counters()

    @property
    def sms_outbox(self) -> list[Message]:
        """Messages sent through the locmem backend during this test."""
        return _locmem.outbox

    def last_otp(self, phone: str) -> str | None:
        """The OTP most recently "sent" to ``phone`` by the locmem backend."""
        transport = get_backend().transport
        if not isinstance(transport, _locmem.LocmemTransport):
            raise RuntimeError(
                "last_otp reads the locmem backend, but this test sends through "
                f"{type(transport).__name__} (TWOFACTOR_NOTIFY was overridden?)"
            )
        return transport.last_otp(phone)
