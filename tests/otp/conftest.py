"""Fixtures for the otp_twofactor tests.

Every test gets this folder's URLconf and templates and, unless it says otherwise, a device
that sends through a ``TwoFactorTransport`` pointed at the 2Factor emulator over HTTP.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("django_otp")
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import Message, Receipt, Verification
from twofactor_notify.transport import TwoFactorTransport

HERE = Path(__file__).resolve().parent
NUMBER = "+919876543210"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def otp_test_settings(settings: Any) -> Any:
    """This folder's URLconf and templates; predictable plugin settings."""
    settings.ROOT_URLCONF = "tests.otp.urls"
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [str(HERE / "templates")]
    settings.TEMPLATES = templates
    settings.OTP_TWOFACTOR_MODE = "local"
    settings.OTP_TWOFACTOR_NO_DELIVERY = False
    settings.OTP_TWOFACTOR_TRANSPORT = None
    settings.OTP_TWOFACTOR_API_KEY = None
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 1
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 60
    settings.OTP_TWOFACTOR_TOKEN_VALIDITY = 300
    return settings


class RecordingTransport(TwoFactorTransport):
    """The real ``TwoFactorTransport``, remembering what went through it.

    The emulator logs a request after answering it, so tests count on this side.
    """

    def __init__(self, client: TwoFactorClient, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.sent: list[Message] = []
        self.verified: list[VerifyCall] = []

    def _deliver(self, message: Message) -> Receipt:
        self.sent.append(message)
        return super()._deliver(message)

    def _verify(self, code: str, *, session_id: str | None, phone: str | None) -> Verification:
        result = super()._verify(code, session_id=session_id, phone=phone)
        self.verified.append(VerifyCall(session_id, phone, result))
        return result


@dataclass(frozen=True)
class VerifyCall:
    """One verification that reached 2Factor."""

    session_id: str | None
    phone: str | None
    result: Verification


@pytest.fixture
def emulator_transport(
    otp_test_settings: Any, twofactor_client: TwoFactorClient
) -> RecordingTransport:
    """Devices send through a ``TwoFactorTransport`` pointed at the emulator."""
    transport = RecordingTransport(twofactor_client, load_entrypoints=False)
    otp_test_settings.OTP_TWOFACTOR_TRANSPORT = transport
    return transport


@pytest.fixture
def emulator(twofactor_emulator: Emulator, emulator_transport: RecordingTransport) -> Emulator:
    """The emulator, reset, with devices sending through it."""
    return twofactor_emulator


@pytest.fixture
def user(db: None) -> AbstractBaseUser:
    """A user with a password."""
    return get_user_model().objects.create_user(  # type: ignore[attr-defined,no-any-return]
        "alice", "alice@example.com", PASSWORD
    )


@pytest.fixture
def make_device(user: AbstractBaseUser) -> Callable[..., TwoFactorSMSDevice]:
    """Create a device for ``user`` (number ``NUMBER`` unless given)."""

    def make(**fields: Any) -> TwoFactorSMSDevice:
        fields.setdefault("user", user)
        fields.setdefault("name", "phone")
        fields.setdefault("number", NUMBER)
        return TwoFactorSMSDevice.objects.create(**fields)

    return make


@pytest.fixture
def device(make_device: Callable[..., TwoFactorSMSDevice]) -> TwoFactorSMSDevice:
    """A device for ``user`` on ``NUMBER``."""
    return make_device()


def fresh(device: TwoFactorSMSDevice) -> TwoFactorSMSDevice:
    """The device as stored now."""
    return TwoFactorSMSDevice.objects.get(pk=device.pk)


def wrong_code(code: str) -> str:
    """A code of the same length that is certainly not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver; Selenium Manager kept offline."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
    with tempfile.TemporaryDirectory(prefix="otp-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()
