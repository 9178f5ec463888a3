"""Odd tokens (not a string of 4 to 6 ASCII digits) are wrong codes in both modes: counted
as a failure, never an exception, never a match -- and the right code still works after."""

from __future__ import annotations

from typing import Any

import pytest

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator

from .conftest import NUMBER

pytestmark = pytest.mark.django_db

#: what a caller may hand verify_token besides a clean code (the code is appended where
#: a "%s" is: a code with spaces or a newline around it is not converted either)
ODD: list[Any] = [
    "\ud800",
    "",
    None,
    b"123456",
    ["1"],
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
    "%s\n",
    " %s",
    "%s ",
    123456,
]


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_an_odd_token_is_a_counted_failure_in_both_modes(
    settings: Any, emulator: Emulator, device: TwoFactorSMSDevice, mode: str
) -> None:
    settings.OTP_TWOFACTOR_MODE = mode
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0  # count, but never lock out
    device.generate_challenge()
    code = emulator.last_otp(NUMBER)
    assert code is not None
    for count, odd in enumerate(ODD, start=1):
        token = odd % code if isinstance(odd, str) and "%s" in odd else odd
        if isinstance(odd, int):
            token = int(code)
        assert device.verify_token(token) is False, repr(odd)
        device.refresh_from_db()
        assert device.throttling_failure_count == count, repr(odd)
    assert device.verify_token(code) is True
