"""The README's django-otp quickstart works as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.django_db


def _quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quickstart: django-otp\s+```python\n(.*?)```", text, re.S)
    assert block is not None, "the README lost its django-otp quickstart"
    return block.group(1)


def test_readme_django_otp_quickstart_runs_as_written(
    emulator: Emulator, settings: Any, user: AbstractBaseUser
) -> None:
    lines = _quickstart().splitlines()
    settings_lines = [line for line in lines if re.match(r"^OTP_TWOFACTOR_\w+ = ", line)]
    (device_line,) = [line.lstrip("# ") for line in lines if "TwoFactorSMSDevice(" in line]
    namespace: dict[str, Any] = {}
    for line in settings_lines:
        exec(line, namespace)  # noqa: S102 - the README's own line
        name = line.split("=", 1)[0].strip()
        setattr(settings, name, namespace[name])

    code = device_line.replace("user=...", "user=user")
    message = eval(code, {"TwoFactorSMSDevice": TwoFactorSMSDevice, "user": user})  # noqa: S307

    assert "+91******3210" in message
    device = TwoFactorSMSDevice.objects.get(user=user)
    assert device.name == "SMS to +91******3210"  # saved by generate_challenge(), named
    otp = emulator.last_otp(device.number)
    assert otp is not None and device.verify_token(otp) is True
