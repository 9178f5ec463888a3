"""The test project's settings with a *real-looking* SMS backend, the app's test runner and
the ``spawn`` start method (the default on macOS and Windows), on SQLite in memory."""

from __future__ import annotations

import multiprocessing

from tests.settings import *  # noqa: F403
from tests.settings import TWOFACTOR_NOTIFY as _BASE

multiprocessing.set_start_method("spawn", force=True)

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
TEST_RUNNER = "django_twofactor.test.TwoFactorTestRunner"
# "dummy" stands in for "2factor" (which would need a key and could reach the network)
TWOFACTOR_NOTIFY = {**_BASE, "BACKEND": "dummy"}
