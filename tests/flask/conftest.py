"""Fixtures for the Flask extension's tests: apps built by a factory, live servers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("flask")
from flask import Flask

from flask_twofactor import TwoFactor
from flask_twofactor.testing import LiveServer
from twofactor_notify.emulator import Emulator

WEBHOOK_TOKEN = "flask-test-token-0123456789abcdef"
PHONE = "9876543210"
E164 = "+919876543210"

AppFactory = Callable[..., Flask]
_app_numbers = itertools.count(1)


@pytest.fixture
def twofactor() -> TwoFactor:
    """One extension object, shared by every app a test makes (as in an app factory)."""
    return TwoFactor()


@pytest.fixture
def make_app(twofactor: TwoFactor) -> AppFactory:
    """``make_app(TWOFACTOR_X=..., testing=True)``: a new app initialised with the extension."""

    def factory(*, testing: bool = True, init: bool = True, **config: Any) -> Flask:
        app = Flask(f"tf_app_{next(_app_numbers)}")
        app.config.update(
            TESTING=testing,
            SECRET_KEY="flask-test-session-key",
            TWOFACTOR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            # 2Factor (and the emulator) can only be given a URL: most tests post ?token=
            TWOFACTOR_WEBHOOK_QUERY_TOKEN=True,
            TWOFACTOR_SENDER_ID="TFACTR",
            TWOFACTOR_LOAD_ENTRYPOINTS=False,
        )
        app.config.update(config)
        if init:
            twofactor.init_app(app)
        return app

    return factory


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """An app in testing mode: sending suppressed (in-memory transport)."""
    return make_app()


@pytest.fixture
def emulator_app(make_app: AppFactory, twofactor_emulator: Emulator) -> Iterator[Flask]:
    """An app sending for real, to the 2Factor emulator (callback URL cleared around it)."""
    twofactor_emulator.callback_url = None
    yield make_app(
        TWOFACTOR_BACKEND="2factor",
        TWOFACTOR_SUPPRESS=False,
        TWOFACTOR_API_KEY=twofactor_emulator.api_key,
        TWOFACTOR_BASE_URL=twofactor_emulator.url,
        TWOFACTOR_TIMEOUT=5,
    )
    twofactor_emulator.callback_url = None


@pytest.fixture
def flask_server(emulator_app: Flask) -> Iterator[LiveServer]:
    """``emulator_app`` served on 127.0.0.1 and a free port."""
    with LiveServer(emulator_app) as server:
        yield server
