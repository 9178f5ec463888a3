"""Every setting of every adapter is checked once, at start-up, by the core's rules.

The transport settings are discovered from the core builder's option set
(:data:`twofactor_notify.config.OPTIONS`) through each adapter's own name table, and the
adapter-only settings from the adapter's table of them: a setting added later is covered
without editing this file, or this file fails until its bad values are listed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("flask")

pytest.importorskip("django")
pytest.importorskip("flask")

from django.core.checks import Error
from django.test import override_settings
from flask import Flask

import otp_twofactor.conf as otp_conf
from django_twofactor import api
from django_twofactor import conf as django_conf
from django_twofactor.checks import check_settings
from flask_twofactor import TwoFactor
from flask_twofactor import config as flask_conf
from tests.config_cases import BAD_VALUES, bad_cases
from tests.django.conftest import base_settings
from twofactor_notify.config import OPTIONS, ConfigurationWarning
from twofactor_notify.errors import ConfigurationError

pytestmark = pytest.mark.django_db

#: values the Django app's own keys (not transport options) must refuse
DJANGO_BAD: dict[str, list[Any]] = {
    "WEBHOOK_TOKEN": [b"bytes-token-0123456789", 12345678901234567],
    "WEBHOOK_QUERY_TOKEN": ["yes", 2],
    "LOG_MESSAGES": ["no", 2, None],
    "STORE_MESSAGE_TEXT": ["yes"],
    "LOG_RETENTION_DAYS": [0, -1, "ninety", math.inf],
    "PHONE_FIELD": ["", 5, "profile__phone", "username__digits"],
    "CREATE_USERS": ["no"],
    "LOGIN_MAX_ATTEMPTS": [0, -1, "x"],
    "LOGIN_LOCKOUT_SECONDS": [0],
    "SEND_LIMIT": [-1],
    "SEND_WINDOW_SECONDS": [0, 1.5],
    "CACHE_ALIAS": ["nope", 5],
    "LOCMEM_IN_TESTS": ["no", None],
}
#: values the Flask extension's own keys must refuse
FLASK_BAD: dict[str, list[Any]] = {
    "SUPPRESS": ["maybe", 2],
    "WEBHOOK_TOKEN": ["short", 5],
    "WEBHOOKS": ["no"],
    "WEBHOOK_QUERY_TOKEN": ["no", 2],
    "URL_PREFIX": ["twofactor", 5],
    "CONSOLE_SHOW_OTP": ["no"],
}
#: values the otp plugin's own settings must refuse (TRANSPORT is checked when resolved)
OTP_BAD: dict[str, list[Any]] = {
    "OTP_TWOFACTOR_MODE": ["lokal", 5],
    "OTP_TWOFACTOR_TOKEN_VALIDITY": [0, "x"],
    "OTP_TWOFACTOR_THROTTLE_FACTOR": [-1, "x"],
    "OTP_TWOFACTOR_COOLDOWN_DURATION": [-1],
    "OTP_TWOFACTOR_NO_DELIVERY": ["no"],
    "OTP_TWOFACTOR_CHALLENGE_MESSAGE": [5, "sent to {phone}", "sent {", "{0}", "{number.x}"],
}
_AUTH = ["django_twofactor.auth.PhoneOTPBackend"]
#: TWOFACTOR_NOTIFY keys another module checks: BACKGROUND (the queue's engine and Redis)
#: is read by django_twofactor.background when a send is queued
DJANGO_CHECKED_ELSEWHERE = {"BACKGROUND"}


def _cases(table: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    return [(key, value) for key, values in table.items() for value in values]


def test_the_tables_cover_every_setting() -> None:
    assert set(BAD_VALUES) == set(OPTIONS)
    assert set(django_conf.TRANSPORT_KEYS) == set(OPTIONS)
    assert set(flask_conf.TRANSPORT_KEYS) == set(OPTIONS)
    assert set(otp_conf.TRANSPORT_KEYS) | set(otp_conf.NOT_MAPPED) == set(OPTIONS)
    assert not set(otp_conf.TRANSPORT_KEYS) & set(otp_conf.NOT_MAPPED)
    assert all(otp_conf.NOT_MAPPED.values())  # each says why
    assert set(DJANGO_BAD) == set(django_conf.APP_KEYS)
    every_key = {*django_conf.TRANSPORT_KEYS.values(), *django_conf.APP_KEYS}
    assert set(django_conf.DEFAULTS) == every_key | DJANGO_CHECKED_ELSEWHERE
    assert set(FLASK_BAD) == set(flask_conf.APP_KEYS)
    own = set(otp_conf._SETTINGS) - set(otp_conf.TRANSPORT_KEYS.values())
    assert set(OTP_BAD) == own - {"OTP_TWOFACTOR_TRANSPORT"}


def _django_errors(key: str, value: Any) -> list[str]:
    with override_settings(
        TWOFACTOR_NOTIFY=base_settings(**{key: value}), AUTHENTICATION_BACKENDS=_AUTH
    ):
        return [m.msg for m in check_settings() if isinstance(m, Error)]


@pytest.mark.parametrize(("option", "value"), bad_cases())
def test_django_refuses_a_bad_transport_setting(option: str, value: Any) -> None:
    key = django_conf.TRANSPORT_KEYS[option]
    assert any(f"TWOFACTOR_NOTIFY['{key}']" in msg for msg in _django_errors(key, value))


@pytest.mark.parametrize(("key", "value"), _cases(DJANGO_BAD))
def test_django_refuses_a_bad_app_setting(key: str, value: Any) -> None:
    assert any(f"TWOFACTOR_NOTIFY['{key}']" in msg for msg in _django_errors(key, value))


def test_django_accepts_a_lookup_through_a_relation() -> None:
    assert _django_errors("PHONE_FIELD", "groups__name") == []


def _flask_app(**config: Any) -> Flask:
    app = Flask("startup_config")
    app.config.update(
        {"TESTING": True, "TWOFACTOR_LOAD_ENTRYPOINTS": False, "TWOFACTOR_WEBHOOKS": False}
    )
    app.config.update(config)
    return app


@pytest.mark.parametrize(("option", "value"), bad_cases())
def test_flask_init_app_refuses_a_bad_transport_setting(option: str, value: Any) -> None:
    key = "TWOFACTOR_" + flask_conf.TRANSPORT_KEYS[option]
    app = _flask_app(**{key: value})
    with pytest.raises(ConfigurationError) as info:
        TwoFactor(app)
    assert info.value.key == key and key in str(info.value)
    assert "twofactor" not in app.extensions


@pytest.mark.parametrize(("key", "value"), _cases(FLASK_BAD))
def test_flask_init_app_refuses_a_bad_app_setting(key: str, value: Any) -> None:
    app = _flask_app(**{"TWOFACTOR_" + key: value})
    with pytest.raises(ConfigurationError) as info:
        TwoFactor(app)
    assert info.value.key == "TWOFACTOR_" + key


def _otp_errors(settings: Any, key: str, value: Any) -> list[Any]:
    setattr(settings, key, value)
    return [m for m in otp_conf.check_settings() if m.id == "otp_twofactor.E001"]


@pytest.mark.parametrize(
    ("option", "value"),
    [case for case in bad_cases() if case[0] in otp_conf.TRANSPORT_KEYS],
)
def test_otp_refuses_a_bad_transport_setting(settings: Any, option: str, value: Any) -> None:
    key = otp_conf.TRANSPORT_KEYS[option]
    (message,) = _otp_errors(settings, key, value)
    assert message.obj == key and key in message.msg


@pytest.mark.parametrize(("key", "value"), _cases(OTP_BAD))
def test_otp_refuses_a_bad_own_setting(settings: Any, key: str, value: Any) -> None:
    (message,) = _otp_errors(settings, key, value)
    assert message.obj == key
    with pytest.raises(ConfigurationError) as info:
        getattr(otp_conf.settings, key)
    assert info.value.key == key


def test_unknown_keys_are_named_by_every_adapter(settings: Any) -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(TIMOUT=5)):
        (warning,) = check_settings()
    assert warning.id == "django_twofactor.W001" and "TIMOUT" in warning.msg
    with pytest.warns(ConfigurationWarning, match="TWOFACTOR_TIMOUT"):
        TwoFactor(_flask_app(TWOFACTOR_TIMOUT=5))
    settings.OTP_TWOFACTOR_TIMOUT = 5
    (warning,) = [m for m in otp_conf.check_settings() if m.id == "otp_twofactor.W003"]
    assert "OTP_TWOFACTOR_TIMOUT" in warning.msg


@pytest.mark.parametrize(
    "broken",
    [{"BACKEND": "2factor", "API_KEY": None}, {"OTP_LENGTH": 5}, {"TIMEOUT": 0}],
)
def test_fail_silently_never_hides_a_configuration_error(broken: dict[str, Any]) -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(**broken)):
        for _ in range(2):  # every call, not only the first
            with pytest.raises(ConfigurationError) as info:
                api.send_sms("9876543210", "hello", fail_silently=True)
            assert info.value.key is not None
            with pytest.raises(ConfigurationError):
                api.send_mass_sms([("9876543210", "hello")], fail_silently=True)


def test_a_sender_id_from_the_environment_is_the_text_it_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_TWOFACTOR_SENDER_ID", "123456")
    monkeypatch.setenv("FLASK_TWOFACTOR_OTP_LENGTH", "4")
    app = _flask_app()
    app.config.from_prefixed_env()
    assert app.config["TWOFACTOR_SENDER_ID"] == 123456  # what Flask makes of it
    twofactor = TwoFactor(app)
    with app.app_context():
        assert twofactor.transport.default_sender == "123456"
        twofactor.send_sms("9876543210", "hi")
        sent = twofactor.send_otp("9876543210")
        assert sent.session_id
        outbox = twofactor.transport.outbox  # type: ignore[attr-defined]
        assert outbox[0].sender == "123456"
        assert outbox[1].length == 4  # TWOFACTOR_OTP_LENGTH


def test_valid_settings_raise_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TwoFactor(_flask_app(TWOFACTOR_TIMEOUT="5", TWOFACTOR_SENDER_ID="TFACTR"))


def test_django_reports_every_malformed_key_not_only_the_first() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(OTP_LENGTH=5, TIMEOUT=0, REGION="XX")):
        errors = [m.msg for m in check_settings() if isinstance(m, Error)]
    for key in ("OTP_LENGTH", "TIMEOUT", "REGION"):
        assert any(f"TWOFACTOR_NOTIFY['{key}']" in msg for msg in errors), errors


def test_the_first_use_names_the_first_malformed_key() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(OTP_LENGTH=5)):
        with pytest.raises(ConfigurationError) as info:
            api.send_otp("9876543210")
    assert info.value.key == "TWOFACTOR_NOTIFY['OTP_LENGTH']"


@pytest.mark.parametrize(
    ("name", "backend"),
    [("memory", "django_twofactor.backends.locmem"), ("null", "django_twofactor.backends.dummy")],
)
def test_django_takes_the_core_backend_names(name: str, backend: str) -> None:
    from django_twofactor.backends import get_backend

    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND=name)):
        assert check_settings() == []
        assert type(get_backend()).__module__ == backend


def test_django_builds_the_2factor_transport_from_every_transport_key(
    twofactor_emulator: Any,
) -> None:
    from django_twofactor.backends import get_backend

    settings = base_settings(
        BACKEND="2factor",
        API_KEY=twofactor_emulator.api_key,
        SECRET_KEY=twofactor_emulator.secret_key,
        ENCRYPTION_MODE="CBC",
        BASE_URL=twofactor_emulator.url,
        TIMEOUT=[2, 7],
        RATE_LIMIT="50",
    )
    with override_settings(TWOFACTOR_NOTIFY=settings):
        transport = get_backend().transport
        client = transport.client  # type: ignore[attr-defined]
        assert (client.base_url, client.timeout) == (twofactor_emulator.url, (2.0, 7.0))
        assert "CBC" in repr(client._codec)
        assert transport.default_sender == "TFACTR"
        sent = api.send_sms("9876543210", "hello")
    assert sent is not None and twofactor_emulator.messages()


@pytest.mark.parametrize("backend", ["file", "locmem", "dummy"])
def test_flask_takes_every_core_backend(backend: str, tmp_path: Any) -> None:
    from flask_twofactor import get_state
    from twofactor_notify.transport import FileTransport, InMemoryTransport, NullTransport

    app = _flask_app(
        TESTING=False, TWOFACTOR_BACKEND=backend, TWOFACTOR_FILE_PATH=str(tmp_path / "sms")
    )
    TwoFactor(app)
    kind = {"file": FileTransport, "locmem": InMemoryTransport, "dummy": NullTransport}[backend]
    assert type(get_state(app).transport) is kind


@pytest.mark.parametrize("key", ["TWOFACTOR_SHOW_OTP", "TWOFACTOR_CONSOLE_SHOW_OTP"])
def test_flask_show_otp_and_its_older_name(key: str) -> None:
    from flask_twofactor import get_state

    app = _flask_app(TESTING=False, TWOFACTOR_BACKEND="console", **{key: "true"})
    TwoFactor(app)
    assert get_state(app).transport.show_otp is True  # type: ignore[attr-defined]


def test_flask_apps_each_keep_their_own_login_counters() -> None:
    from flask_twofactor import get_state

    first, second = _flask_app(), _flask_app()
    TwoFactor(first)
    TwoFactor(second)
    assert get_state(first).attempt_store is not get_state(second).attempt_store


def test_otp_builds_its_own_transport_from_every_transport_setting(
    settings: Any, twofactor_emulator: Any
) -> None:
    settings.OTP_TWOFACTOR_NO_DELIVERY = False
    settings.OTP_TWOFACTOR_TRANSPORT = None
    settings.OTP_TWOFACTOR_API_KEY = twofactor_emulator.api_key
    settings.OTP_TWOFACTOR_SECRET_KEY = twofactor_emulator.secret_key
    settings.OTP_TWOFACTOR_ENCRYPTION_MODE = "CBC"
    settings.OTP_TWOFACTOR_BASE_URL = twofactor_emulator.url
    settings.OTP_TWOFACTOR_TIMEOUT = 3
    settings.OTP_TWOFACTOR_RATE_LIMIT = 20
    settings.OTP_TWOFACTOR_TEMPLATE = "OTPTest"
    assert [m for m in otp_conf.check_settings() if m.id.startswith("otp_twofactor.")] == []
    transport = otp_conf.get_transport()
    client = transport.client  # type: ignore[attr-defined]
    assert (client.base_url, client.timeout) == (twofactor_emulator.url, 3.0)
    assert "CBC" in repr(client._codec)
    assert transport.default_template == "OTPTest"


SECRET_API_KEY = "k3y-" + "5e" * 16


def _no_key_in(error: BaseException, test: Any) -> None:
    from tests.secret_scan import find_secrets, summarise

    findings = find_secrets(error, {"api key": SECRET_API_KEY}, stop=test.__code__)
    assert findings == [], summarise(findings)


def test_no_frame_of_a_core_configuration_error_holds_the_key() -> None:
    from twofactor_notify import build_transport

    with pytest.raises(ConfigurationError) as info:
        build_transport({"api_key": SECRET_API_KEY, "timeout": 0})
    _no_key_in(info.value, test_no_frame_of_a_core_configuration_error_holds_the_key)


def test_no_frame_of_a_django_configuration_error_holds_the_key() -> None:
    broken = base_settings(BACKEND="2factor", API_KEY=SECRET_API_KEY, OTP_LENGTH=5)
    with override_settings(TWOFACTOR_NOTIFY=broken):
        del broken
        with pytest.raises(ConfigurationError) as info:
            api.send_sms("9876543210", "hello")
    _no_key_in(info.value, test_no_frame_of_a_django_configuration_error_holds_the_key)


def test_no_frame_of_an_otp_configuration_error_holds_the_key() -> None:
    def attempt() -> ConfigurationError:
        with override_settings(OTP_TWOFACTOR_API_KEY=SECRET_API_KEY + " with a space"):
            try:
                otp_conf.get_transport()
            except ConfigurationError as exc:
                return exc
        raise AssertionError("a malformed OTP_TWOFACTOR_API_KEY was accepted")

    error = attempt()
    assert error.key == "OTP_TWOFACTOR_API_KEY"
    _no_key_in(error, test_no_frame_of_an_otp_configuration_error_holds_the_key)


@pytest.mark.parametrize("has_account", [True, False])
def test_the_login_view_raises_a_configuration_error_for_every_number(
    has_account: bool, django_user_model: Any
) -> None:
    from django.test import Client

    if has_account:
        django_user_model.objects.create_user(username="+919876543210")
    with override_settings(
        # the settings parse; the backend class cannot be imported when it is built
        TWOFACTOR_NOTIFY=base_settings(BACKEND="myproject.sms.MissingBackend"),
        AUTHENTICATION_BACKENDS=_AUTH,
    ):
        with pytest.raises(ConfigurationError) as info:
            Client().post("/twofactor/login/", {"phone": "9876543210"})
    assert "TWOFACTOR_NOTIFY['BACKEND']" in str(info.value)


@pytest.mark.parametrize(
    "key", ["OTP_TWOFACTOR_THROTTLE_FACTOR", "OTP_TWOFACTOR_COOLDOWN_DURATION"]
)
def test_an_otp_setting_that_takes_zero_says_so(settings: Any, key: str) -> None:
    (message,) = _otp_errors(settings, key, -1)
    assert "0 (off)" in message.msg
    setattr(settings, key, 0)
    assert _otp_errors(settings, key, 0) == []


@pytest.mark.parametrize("value", ["no.such.thing", 5, "os.path"])
def test_otp_refuses_a_transport_setting_that_builds_no_transport(
    settings: Any, value: Any
) -> None:
    (message,) = _otp_errors(settings, "OTP_TWOFACTOR_TRANSPORT", value)
    assert message.obj == "OTP_TWOFACTOR_TRANSPORT"
    assert "OTP_TWOFACTOR_TRANSPORT" in message.msg
    with pytest.raises(ConfigurationError) as info:
        otp_conf.get_transport()
    assert info.value.key == "OTP_TWOFACTOR_TRANSPORT"


#: BACKGROUND values every adapter refuses (Django's TWOFACTOR_NOTIFY['BACKGROUND'], Flask's
#: TWOFACTOR_BACKGROUND)
BAD_BACKGROUND: list[Any] = [
    5,
    {"ENGINE": "nope"},
    {"ENGINE": "celery", "TYPO": 1},
    {"ENGINE": "celery", "REDIS_URL": "http://x"},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "LEDGER": "nope"},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "QUEUE": ""},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "MAX_ATTEMPTS": 0},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "KEY_PREFIX": 5},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "LEASE_SECONDS": -1},
    {"ENGINE": "celery", "REDIS_URL": "redis://x", "ACCOUNT_RATE_LIMIT": "fast"},
]


def _django_configuration_errors() -> Iterator[tuple[str, ConfigurationError]]:
    """Every ConfigurationError the Django app raises on first use for a bad setting."""
    from django_twofactor import background
    from django_twofactor.backends import get_backend
    from tests.django.test_testing_tools import BROKEN_BACKENDS

    cases = [{django_conf.TRANSPORT_KEYS[o]: v} for o, v in bad_cases()]
    cases += [{k: v} for k, values in DJANGO_BAD.items() for v in values]
    cases += BROKEN_BACKENDS
    for case in cases:
        with override_settings(TWOFACTOR_NOTIFY=base_settings(**case)):
            try:
                get_backend()
            except ConfigurationError as exc:
                yield repr(case), exc
    for value in [None, *BAD_BACKGROUND]:
        with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKGROUND=value)):
            with pytest.raises(ConfigurationError) as info:
                background.get_options()
            yield f"BACKGROUND={value!r}", info.value


def test_every_configuration_error_names_its_key() -> None:
    seen = dict(_django_configuration_errors())
    for value in BAD_BACKGROUND:
        with pytest.raises(ConfigurationError) as info:
            TwoFactor(_flask_app(TWOFACTOR_BACKGROUND=value))
        seen[f"flask BACKGROUND={value!r}"] = info.value
    assert len(seen) > len(BAD_BACKGROUND) * 2
    unnamed = {case: str(exc) for case, exc in seen.items() if not exc.key}
    assert not unnamed
    for case, exc in seen.items():
        assert exc.key in str(exc), case
