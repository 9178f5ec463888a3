"""SMS-safe tests by default: follow Django's test environment as e-mail does.

Django's ``setup_test_environment()`` (called by ``manage.py test``'s runner and by
pytest-django alike) switches ``EMAIL_BACKEND`` to locmem. :func:`install` (run by the app's
``ready()``) wraps that function, and its ``teardown_test_environment()`` twin, so the SMS
backend follows: ``TWOFACTOR_NOTIFY['BACKEND']`` becomes ``locmem`` for the test run, the
outbox is emptied and the send and login counters start afresh. A project that never read
the testing page therefore cannot send real, paid SMS from its CI.

A suite that means to send for real says so: ``TWOFACTOR_NOTIFY['LOCMEM_IN_TESTS'] = False``
(or overrides ``TWOFACTOR_NOTIFY`` inside a test, which always wins).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["install"]

_MARK = "_django_twofactor_sms"


def _wrap(original: Callable[..., Any], after: Callable[[], None], *, first: bool) -> Any:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if first:
            after()
            return original(*args, **kwargs)
        result = original(*args, **kwargs)
        after()
        return result

    setattr(wrapper, _MARK, original)
    return wrapper


def _setup() -> None:
    from .test import setup_test_environment

    setup_test_environment()


def _teardown() -> None:
    from .test import teardown_test_environment

    teardown_test_environment()


def install() -> None:
    """Make Django's test environment set-up switch the SMS backend to locmem (once)."""
    import django.test.utils as utils

    if hasattr(utils.setup_test_environment, _MARK):
        return
    setup, teardown = utils.setup_test_environment, utils.teardown_test_environment
    new_setup = _wrap(setup, _setup, first=False)
    new_teardown = _wrap(teardown, _teardown, first=True)
    utils.setup_test_environment = new_setup
    utils.teardown_test_environment = new_teardown
    # modules that imported the functions by name before the app was ready
    for name in ("django.test.runner", "pytest_django.plugin"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if getattr(module, "setup_test_environment", None) is setup:
            module.setup_test_environment = new_setup  # type: ignore[attr-defined]
        if getattr(module, "teardown_test_environment", None) is teardown:
            module.teardown_test_environment = new_teardown  # type: ignore[attr-defined]
