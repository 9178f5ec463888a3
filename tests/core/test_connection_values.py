"""A base URL or a timeout no request can be built on is refused where the client is made.

One rule (``validate_base_url``, ``validate_timeout``) serves the client's constructor, the
settings builder and the command line; each path is walked with every bad value, and must
raise the library's typed error (never an "outcome unknown" from a request that could not
even be built, never a ValueError or OverflowError from below).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from twofactor_notify import ConfigurationError, TwoFactorClient, build_transport
from twofactor_notify.cli import main

KEY = "0000aaaa-1111-2222-3333-444455556666"
BAD_URLS = [
    "http://",
    "http://127.0.0.1:99999",
    "http://127.0.0.1:abc",
    "http://127.0.0.1:0",
    "http://x y",
    "http://[::1",
    "ftp://2factor.in",
    "2factor.in",
    "",
    "https://2factor.in/?a=1",
    "https://2factor.in/#top",
    "http://host\x00name",
    "https://user:PASSWORD-9@2factor.in",
    "https://apiuser@2factor.in",
    "https://2factor.in/API/V1/0000aaaa-1111-2222-3333-444455556666",
    "https://2factor.in/api",
]
BAD_TIMEOUTS: list[Any] = [0, -1, float("nan"), float("inf"), 1e308, 99_999_999_999, "x", True]


def _client(**kwargs: Any) -> None:
    TwoFactorClient(KEY, **kwargs).close()


def _settings(**kwargs: Any) -> None:
    build_transport({"backend": "2factor", "api_key": KEY, **kwargs}).close()


BUILDERS: dict[str, Callable[..., None]] = {"client": _client, "build_transport": _settings}


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_base_url_is_a_configuration_error(builder: str, url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url") as caught:
        BUILDERS[builder](base_url=url)
    assert caught.value.__cause__ is None
    assert "PASSWORD-9" not in str(caught.value) and KEY not in str(caught.value)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("timeout", [*BAD_TIMEOUTS, (1, 0), (float("inf"), 1), (1,)])
def test_a_bad_timeout_is_a_configuration_error(builder: str, timeout: Any) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        BUILDERS[builder](timeout=timeout)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_good_values_pass(builder: str) -> None:
    BUILDERS[builder](base_url="http://127.0.0.1:8765/", timeout=(3, 86_400))
    BUILDERS[builder](base_url="https://[::1]:443/prefix", timeout="2.5")


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_command_line_refuses_it_with_exit_2(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TWOFACTOR_API_KEY", KEY)
    for argv in (["--base-url", url, "send-otp", "9876543210"], ["send-otp", "9876543210"]):
        if "\x00" in url or url == "":  # no environment holds a NUL; "" means "not set"
            continue
        monkeypatch.setenv("TWOFACTOR_BASE_URL", url)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
        assert "outcome unknown" not in err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e308", "99999999999", "x"])
def test_the_command_line_refuses_a_bad_timeout(
    timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--timeout", timeout, "send-otp", "9876543210"]) == 2
    assert main(["send-otp", "9876543210", "--timeout", timeout]) == 2
    assert "Traceback" not in capsys.readouterr().err
