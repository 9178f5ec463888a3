"""Fixtures of the django_twofactor tests.

The app's own pytest fixtures (``sms_outbox``, ``sms_last_otp`` and the session-wide switch
to the locmem backend) are imported here the way a project's ``conftest.py`` would enable
them with ``pytest_plugins = ["django_twofactor.pytest_plugin"]``. The emulator fixtures
come from the core's pytest plugin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")
from django.core.cache import cache

from django_twofactor.backends import locmem
from django_twofactor.pytest_plugin import (  # noqa: F401 - fixtures
    _twofactor_locmem_backend,
    sms_last_otp,
    sms_outbox,
)
from twofactor_notify.emulator import Emulator

WEBHOOK_TOKEN = "test-webhook-token"
PHONE = "+919876543210"
OTHER_PHONE = "+919812345678"


def base_settings(**extra: Any) -> dict[str, Any]:
    """The test project's TWOFACTOR_NOTIFY with ``extra`` keys changed."""
    data: dict[str, Any] = {
        "BACKEND": "locmem",
        "SENDER_ID": "TFACTR",
        "OTP_TEMPLATE": "OTPTest",
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "WEBHOOK_QUERY_TOKEN": True,  # as 2Factor posts: the token in the callback URL
        "LOAD_ENTRYPOINTS": False,
        "PHONE_FIELD": "username",
    }
    data.update(extra)
    return data


def emulator_settings(emulator: Emulator, **extra: Any) -> dict[str, Any]:
    """TWOFACTOR_NOTIFY for the 2factor backend pointed at ``emulator``."""
    return base_settings(
        BACKEND="2factor",
        API_KEY=emulator.api_key,
        SECRET_KEY=emulator.secret_key,
        BASE_URL=emulator.url,
        TIMEOUT=5,
        **extra,
    )


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Empty the cache (throttle counters) and the locmem outbox around each test."""
    cache.clear()
    locmem.outbox.clear()
    yield
    cache.clear()


@pytest.fixture
def on_emulator(settings: Any, twofactor_emulator: Emulator) -> Emulator:
    """The 2factor backend, pointed at the (reset) emulator, for this test."""
    settings.TWOFACTOR_NOTIFY = emulator_settings(twofactor_emulator)
    return twofactor_emulator


@pytest.fixture
def emulator_callbacks(twofactor_emulator: Emulator) -> Iterator[Emulator]:
    """An emulator whose callbacks a live server may receive; its callback URL is reset after.

    On SQLite the test database lives in memory and Django's live server shares its one
    connection between request threads, which is not safe for concurrent requests: there
    the emulator posts callbacks from a single worker. On PostgreSQL the session emulator
    (several workers, concurrent POSTs) is used.
    """
    from django.db import connection

    if connection.vendor != "sqlite":
        yield twofactor_emulator
        twofactor_emulator.callback_url = None
        return
    with Emulator(callback_workers=1) as emulator:
        yield emulator


def requires_postgresql() -> Any:
    """Skip marker for tests that need PostgreSQL (the reason is printed by ``-ra``)."""
    return pytest.mark.skipif(
        not os.environ.get("TWOFACTOR_TEST_DATABASE_URL"),
        reason="needs PostgreSQL: set TWOFACTOR_TEST_DATABASE_URL="
        "postgresql://postgres@127.0.0.1:5432/test",
    )
