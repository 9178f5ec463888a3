"""Fixtures for the command-line tests: the CLI pointed at the emulator through its env."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from twofactor_notify.cli import main
from twofactor_notify.emulator import Emulator


@dataclass
class Run:
    """What one in-process run of the command line produced."""

    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, twofactor_emulator: Emulator) -> Emulator:
    """TWOFACTOR_API_KEY and TWOFACTOR_BASE_URL for the emulator; stdin is not a terminal."""
    monkeypatch.setenv("TWOFACTOR_API_KEY", twofactor_emulator.api_key)
    monkeypatch.setenv("TWOFACTOR_BASE_URL", twofactor_emulator.url)
    monkeypatch.delenv("TWOFACTOR_SECRET_KEY", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return twofactor_emulator


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``run_cli("send-otp", "9876543210")``: main() in-process, with its output."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
