"""The environment's proxy settings still apply, though the client reads them only once."""

from __future__ import annotations

import pytest

from twofactor_notify import APIConnectionError, TwoFactorClient
from twofactor_notify.emulator import Emulator


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test from an environment without proxy variables (either case)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_a_proxy_from_the_environment_is_used(
    twofactor_emulator: Emulator, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy is a closed port: if the client honours it, the send cannot connect.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    with TwoFactorClient(
        twofactor_emulator.api_key, base_url=twofactor_emulator.url, connect_retries=0
    ) as client:
        with pytest.raises(APIConnectionError):
            client.send_otp("9876543210")
    assert twofactor_emulator.messages() == []


def test_no_proxy_from_the_environment_is_honoured(
    twofactor_emulator: Emulator, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with TwoFactorClient(twofactor_emulator.api_key, base_url=twofactor_emulator.url) as client:
        assert client.send_otp("9876543210").session_id
    assert len(twofactor_emulator.messages()) == 1


def test_the_environment_is_read_when_the_client_is_created(
    twofactor_emulator: Emulator, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TwoFactorClient(twofactor_emulator.api_key, base_url=twofactor_emulator.url) as client:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
        assert client.send_otp("9876543210").session_id  # a later change is not picked up
