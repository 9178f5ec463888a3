"""Configuration: errors at init_app, defaults, several apps, the application factory."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_twofactor import TwoFactor, TwoFactorState, get_state
from twofactor_notify import hookimpl
from twofactor_notify.config import BACKENDS
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import (
    ConsoleTransport,
    InMemoryTransport,
    NullTransport,
    TwoFactorTransport,
)

from .conftest import AppFactory


class RecordingPlugin:
    """A plugin that remembers the recipients of what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ...]] = []

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        self.sent.append(message.recipients)


class UnknownHookPlugin:
    """A plugin implementing a hook that does not exist."""

    @hookimpl
    def before_sned(self, message: Any) -> None:
        """Misspelt on purpose."""


#: a module-level plugin object, for the dotted-path form of TWOFACTOR_PLUGINS
module_plugin = RecordingPlugin()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"TWOFACTOR_BACKEND": "2factor", "TWOFACTOR_API_KEY": None}, "TWOFACTOR_API_KEY"),
        ({"TWOFACTOR_BACKEND": "carrier-pigeon"}, "TWOFACTOR_BACKEND"),
        ({"TWOFACTOR_SENDER_ID": "TOO-LONG-SENDER"}, "TWOFACTOR_SENDER_ID"),
        ({"TWOFACTOR_OTP_TEMPLATE": "../etc"}, "TWOFACTOR_OTP_TEMPLATE"),
        ({"TWOFACTOR_PLUGINS": ["no_such_module_xyz.Plugin"]}, "TWOFACTOR_PLUGINS"),
        ({"TWOFACTOR_PLUGINS": [UnknownHookPlugin()]}, "TWOFACTOR_PLUGINS"),
        ({"TWOFACTOR_PLUGINS": 42}, "TWOFACTOR_PLUGINS"),
        ({"TWOFACTOR_TIMEOUT": "soon"}, "TWOFACTOR_TIMEOUT"),
        ({"TWOFACTOR_TIMEOUT": -1}, "TWOFACTOR_TIMEOUT"),
        ({"TWOFACTOR_TIMEOUT": (1, 2, 3)}, "TWOFACTOR_TIMEOUT"),
        ({"TWOFACTOR_RATE_LIMIT": "fast"}, "TWOFACTOR_RATE_LIMIT"),
        ({"TWOFACTOR_BASE_URL": "ftp://example.com"}, "TWOFACTOR_BASE_URL"),
        ({"TWOFACTOR_REGION": "India"}, "TWOFACTOR_REGION"),
        ({"TWOFACTOR_URL_PREFIX": "twofactor"}, "TWOFACTOR_URL_PREFIX"),
        ({"TWOFACTOR_SUPPRESS": "maybe"}, "TWOFACTOR_SUPPRESS"),
        ({"TWOFACTOR_WEBHOOK_TOKEN": "short"}, "TWOFACTOR_WEBHOOK_TOKEN"),
        ({"TWOFACTOR_WEBHOOK_TOKEN": "ToK" + "é" * 20}, "TWOFACTOR_WEBHOOK_TOKEN"),
        ({"TWOFACTOR_WEBHOOK_TOKEN": "token with spaces inside"}, "TWOFACTOR_WEBHOOK_TOKEN"),
        ({"TWOFACTOR_ENCRYPTION_MODE": "ECB"}, "TWOFACTOR_ENCRYPTION_MODE"),
        ({"TWOFACTOR_API_KEY": 12345678}, "TWOFACTOR_API_KEY"),
    ],
)
def test_init_app_refuses_bad_config(make_app: AppFactory, config: dict[str, Any], key: str):
    app = make_app(testing=False, init=False, **{"TWOFACTOR_API_KEY": "k" * 36, **config})
    with pytest.raises(ConfigurationError) as info:
        TwoFactor(app)
    assert key in str(info.value)
    assert "twofactor" not in app.extensions


def test_malformed_api_key_is_named_without_its_value(make_app: AppFactory):
    app = make_app(testing=False, init=False, TWOFACTOR_API_KEY="bad key/with spaces")
    with pytest.raises(ConfigurationError) as info:
        TwoFactor(app)
    assert "TWOFACTOR_API_KEY" in str(info.value)
    assert "bad key" not in str(info.value)


def test_environment_strings_are_accepted(make_app: AppFactory):
    app = make_app(
        testing=False,
        TWOFACTOR_BACKEND="Memory",
        TWOFACTOR_TIMEOUT="2.5",
        TWOFACTOR_RATE_LIMIT="50",
        TWOFACTOR_SUPPRESS="false",
        TWOFACTOR_REGION="in",
        TWOFACTOR_URL_PREFIX="/hooks/2f/",
    )
    config = get_state(app).config
    assert (config.timeout, config.rate_limit, config.region) == (2.5, 50.0, "IN")
    assert config.suppress is False
    assert config.url_prefix == "/hooks/2f"
    assert app.url_map.bind("x").match("/hooks/2f/delivery/", method="POST")[0] == (
        "twofactor.delivery"
    )


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("memory", InMemoryTransport), ("console", ConsoleTransport), ("null", NullTransport)],
)
def test_backends(make_app: AppFactory, backend: str, kind: type):
    app = make_app(testing=False, TWOFACTOR_BACKEND=backend)
    assert type(get_state(app).transport) is kind


def test_2factor_backend_builds_the_real_transport(make_app: AppFactory):
    app = make_app(
        testing=False,
        TWOFACTOR_API_KEY="a" * 36,
        TWOFACTOR_BASE_URL="http://127.0.0.1:9",
        TWOFACTOR_SECRET_KEY="s" * 32,
    )
    state = get_state(app)
    assert isinstance(state.transport, TwoFactorTransport)
    assert state.transport.client.base_url == "http://127.0.0.1:9"
    assert "a" * 36 not in repr(state) + repr(state.config) + repr(state.transport)
    assert "s" * 32 not in repr(state.config)


def test_testing_suppresses_the_real_backend_without_an_api_key(make_app: AppFactory):
    app = make_app(testing=True, TWOFACTOR_BACKEND="2factor")
    state = get_state(app)
    assert state.suppressed
    assert isinstance(state.transport, InMemoryTransport)


def test_plugins_as_objects_and_dotted_paths(make_app: AppFactory):
    direct = RecordingPlugin()
    app = make_app(TWOFACTOR_PLUGINS=[direct, f"{__name__}.module_plugin"])
    before = len(module_plugin.sent)
    with app.app_context():
        get_state().transport.send_sms("9876543210", "hello")
    assert direct.sent == [("+919876543210",)]
    assert len(module_plugin.sent) == before + 1


def test_several_apps_with_different_configs(twofactor: TwoFactor, make_app: AppFactory):
    memory = make_app(TWOFACTOR_SENDER_ID="AAAAAA", TWOFACTOR_URL_PREFIX="/a")
    console = make_app(testing=False, TWOFACTOR_BACKEND="null", TWOFACTOR_SENDER_ID="BBBBBB")
    assert not hasattr(twofactor, "app")
    with memory.app_context():
        with twofactor.record_messages() as outbox:
            twofactor.send_sms("9876543210", "from a")
        assert [m.sender for m in outbox] == ["AAAAAA"]  # type: ignore[union-attr]
    with console.app_context():
        with twofactor.record_messages() as outbox:
            twofactor.send_sms("9876543210", "from b")
        assert [m.sender for m in outbox] == ["BBBBBB"]  # type: ignore[union-attr]
    assert get_state(memory).transport is not get_state(console).transport
    assert memory.url_map.bind("x").match("/a/delivery/", method="POST")
    assert console.url_map.bind("x").match("/twofactor/delivery/", method="POST")


def test_application_factory():
    twofactor = TwoFactor()

    def create_app(sender: str) -> Flask:
        app = Flask(__name__)
        app.config.update(TESTING=True, TWOFACTOR_SENDER_ID=sender)
        twofactor.init_app(app)
        return app

    first, second = create_app("FIRSTS"), create_app("SECOND")
    assert isinstance(first.extensions["twofactor"], TwoFactorState)
    assert get_state(first).config.sender_id == "FIRSTS"
    assert get_state(second).config.sender_id == "SECOND"
    assert "twofactor" in first.cli.commands


def test_init_twice_and_uninitialised_app(twofactor: TwoFactor, app: Flask):
    with pytest.raises(RuntimeError, match="already initialised"):
        twofactor.init_app(app)
    bare = Flask("bare")
    with bare.app_context(), pytest.raises(RuntimeError, match="not initialised"):
        twofactor.send_otp("9876543210")


def test_webhooks_can_be_turned_off(make_app: AppFactory):
    app = make_app(TWOFACTOR_WEBHOOKS=False)
    assert "twofactor" not in app.blueprints
    assert app.test_client().post("/twofactor/delivery/").status_code == 404


@pytest.mark.parametrize("backend", sorted(set(BACKENDS) - {"2factor"}))
def test_testing_checks_the_configured_backend_as_production_does(
    make_app: AppFactory, backend: str
):
    """Under TESTING every backend but 2factor (which needs only the key nothing uses) is
    checked as configured: what init_app refuses in production it refuses under testing."""
    for testing in (False, True):
        with pytest.raises(ConfigurationError) as info:
            make_app(testing=testing, TWOFACTOR_BACKEND=backend, TWOFACTOR_FILE_PATH=5)
        assert info.value.key == "TWOFACTOR_FILE_PATH"
    with pytest.raises(ConfigurationError) as missing:
        make_app(testing=True, TWOFACTOR_BACKEND="file")
    assert missing.value.key == "TWOFACTOR_FILE_PATH"


def test_get_state_names_what_took_the_extensions_place() -> None:
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match="not initialised"):
        get_state(app)
    app.extensions["twofactor"] = object()
    with pytest.raises(RuntimeError, match=r"holds a object, not flask_twofactor's state"):
        get_state(app)
