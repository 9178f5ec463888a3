"""The pytest plugin's fixtures, in this suite and in a user's suite of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests

from twofactor_notify.emulator import Emulator


def test_emulator_fixture_is_reset_per_test(
    twofactor_emulator: Emulator, twofactor_emulator_server: Emulator
) -> None:
    assert twofactor_emulator is twofactor_emulator_server
    assert twofactor_emulator.messages() == [] and twofactor_emulator.requests == []


def test_last_otp_fixture(
    twofactor_emulator: Emulator, twofactor_last_otp: Callable[[str], str]
) -> None:
    url = f"{twofactor_emulator.url}/API/V1/{twofactor_emulator.api_key}/SMS/9876543210/4821"
    requests.get(url, timeout=5)
    assert twofactor_last_otp("+91 98765 43210") == "4821"
    with pytest.raises(LookupError):
        twofactor_last_otp("9000000000")


def test_client_and_transport_fixtures(
    twofactor_emulator: Emulator, twofactor_client: Any, twofactor_transport: Any
) -> None:
    client_module = pytest.importorskip("twofactor_notify.client")
    transport_module = pytest.importorskip("twofactor_notify.transport")
    assert isinstance(twofactor_client, client_module.TwoFactorClient)
    assert twofactor_client.base_url == twofactor_emulator.url
    assert isinstance(twofactor_transport, transport_module.TwoFactorTransport)
    assert twofactor_transport.client is twofactor_client


USER_TEST = """
import requests

def test_users_own_suite(twofactor_emulator, twofactor_last_otp):
    base = f"{twofactor_emulator.url}/API/V1/{twofactor_emulator.api_key}/SMS"
    sent = requests.get(f"{base}/9876543210/AUTOGEN", timeout=5).json()
    otp = twofactor_last_otp("9876543210")
    answer = requests.get(f"{base}/VERIFY/{sent['Details']}/{otp}", timeout=5).json()
    assert answer["Details"] == "OTP Matched"

def test_next_test_starts_clean(twofactor_emulator):
    assert twofactor_emulator.messages() == []
"""


def test_plugin_in_a_users_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    installed = any(ep.name == "twofactor_notify" for ep in entry_points(group="pytest11"))
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"]
    if not installed:
        args += ["-p", "twofactor_notify.pytest_plugin"]
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [*args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
