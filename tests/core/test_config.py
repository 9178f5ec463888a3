"""The core builder: one documented option set, checked once, one way to make a transport."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.config_cases import BAD_VALUES, bad_cases
from twofactor_notify import build_transport, check_options
from twofactor_notify.config import (
    BACKEND_ALIASES,
    BACKENDS,
    OPTIONS,
    ConfigurationWarning,
    TransportOptions,
    option_errors,
)
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError
from twofactor_notify.transport import (
    ConsoleTransport,
    FileTransport,
    InMemoryTransport,
    NullTransport,
    Transport,
    TwoFactorTransport,
)

API_KEY = "a" * 36


def test_every_option_is_a_field_of_the_checked_options_and_has_bad_values() -> None:
    assert [f.name for f in dataclasses.fields(TransportOptions)] == list(OPTIONS)
    assert set(BAD_VALUES) == set(OPTIONS)
    defaults = check_options({"api_key": API_KEY})
    assert dataclasses.replace(defaults, api_key=None) == TransportOptions()


@pytest.mark.parametrize(("option", "value"), bad_cases())
def test_a_bad_value_is_refused_naming_its_option(option: str, value: Any) -> None:
    options = {"backend": "memory", option: value}
    with pytest.raises(ConfigurationError) as info:
        build_transport(options, key_name=lambda name: f"MY_{name.upper()}")
    assert info.value.key == f"MY_{option.upper()}"
    assert f"MY_{option.upper()}" in str(info.value)
    assert [e.key for e in option_errors(options)] == [option]


@pytest.mark.parametrize("value", ["bad key/with spaces", "secret-but-too/odd"])
def test_an_api_key_error_never_repeats_the_key(value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_options({"api_key": value})
    assert value not in str(info.value) + repr(info.value)


def test_a_backend_that_needs_a_value_names_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_transport({"backend": "2factor"})
    assert info.value.key == "api_key"
    with pytest.raises(ConfigurationError) as info:
        build_transport({"backend": "file"})
    assert info.value.key == "file_path"


@pytest.mark.parametrize(
    ("backend", "kind"),
    [
        ("console", ConsoleTransport),
        ("memory", InMemoryTransport),
        ("locmem", InMemoryTransport),
        ("null", NullTransport),
        ("dummy", NullTransport),
        ("FILE", FileTransport),
    ],
)
def test_each_backend_and_alias_builds_its_transport(
    backend: str, kind: type[Transport], tmp_path: Path
) -> None:
    transport = build_transport({"backend": backend, "file_path": tmp_path / "sms"})
    assert type(transport) is kind
    transport.close()


def test_the_names_cover_every_backend() -> None:
    assert set(BACKEND_ALIASES.values()) <= set(BACKENDS)


def test_the_2factor_backend_sends_through_the_emulator(twofactor_emulator: Emulator) -> None:
    transport = build_transport(
        {
            "api_key": twofactor_emulator.api_key,
            "base_url": twofactor_emulator.url + "/",
            "timeout": "5",
            "rate_limit": "100",
            "sender_id": 123456,  # from_prefixed_env() makes an int of it
            "region": "in",
        }
    )
    assert isinstance(transport, TwoFactorTransport)
    with transport:
        assert transport.client.base_url == twofactor_emulator.url
        assert transport.client.timeout == 5.0
        assert transport.default_sender == "123456"
        sent = transport.send_sms("9876543210", "hello from the builder")
    assert sent.to == ("+919876543210",)
    assert twofactor_emulator.api_key not in repr(transport)


def test_environment_text_is_read_as_what_it_means() -> None:
    checked = check_options(
        {
            "backend": " Memory ",
            "timeout": ["3", "10"],
            "show_otp": "true",
            "load_entrypoints": "0",
            "otp_length": "4",
            "plugins": "",
        }
    )
    assert checked.backend == "memory"
    assert checked.timeout == (3.0, 10.0)
    assert (checked.show_otp, checked.load_entrypoints, checked.otp_length) == (True, False, 4)


def test_unknown_options_are_warned_about_by_name() -> None:
    with pytest.warns(ConfigurationWarning, match="timout"):
        check_options({"backend": "memory", "timout": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_options({"backend": "memory", "timeout": 5})


def test_a_plugin_with_an_unknown_hook_is_refused_at_build_time() -> None:
    class Typo:
        from twofactor_notify.hooks import hookimpl

        @hookimpl
        def before_sned(self, message: Any) -> None: ...

    with pytest.raises(ConfigurationError) as info:
        build_transport({"backend": "memory", "plugins": [Typo()]})
    assert info.value.key == "plugins"


def test_a_transport_class_must_fit_the_backend() -> None:
    class Mine(InMemoryTransport):
        pass

    assert type(build_transport({"backend": "memory"}, transport_class=Mine)) is Mine
    with pytest.raises(ConfigurationError):
        build_transport({"backend": "null"}, transport_class=Mine)


def test_the_file_backend_writes_json_lines(tmp_path: Path) -> None:
    transport = build_transport({"backend": "file", "file_path": str(tmp_path / "out")})
    assert isinstance(transport, FileTransport)
    transport.send_otp("9876543210", otp="1234")
    transport.send_sms("9876543210", "hi", sender="TFACTR")
    lines = transport.path.read_text().splitlines()
    assert len(lines) == 2 and '"otp": "****"' in lines[0]


def test_a_checked_options_object_is_taken_as_it_is() -> None:
    checked = check_options({"backend": "null"})
    assert type(build_transport(checked)) is NullTransport
    assert "api_key" not in repr(check_options({"backend": "null", "api_key": API_KEY}))
