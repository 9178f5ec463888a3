"""A reset forgets the requests still being answered, as well as those already answered.

A test whose client gave up on a slow answer ends while the emulator still holds that request;
the next test's reset must not let it land in the new log. Every way the emulator holds a
request walks through here: the emulator-wide latency, a latency fault, and a timeout fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from twofactor_notify.emulator import Emulator

HOLD_S = 0.8


def _emulator_latency(emulator: Emulator) -> None:
    emulator.latency_ms = HOLD_S * 1000


def _latency_fault(emulator: Emulator) -> None:
    emulator.inject("latency", latency_ms=HOLD_S * 1000)


def _timeout_fault(emulator: Emulator) -> None:
    emulator.inject("timeout", seconds=HOLD_S)


@pytest.mark.parametrize(
    "hold", [_emulator_latency, _latency_fault, _timeout_fault], ids=lambda f: f.__name__
)
def test_a_request_held_across_a_reset_never_shows_in_the_new_log(
    hold: Callable[[Emulator], None],
) -> None:
    with Emulator() as emulator:
        hold(emulator)
        url = f"{emulator.url}/API/V1/{emulator.api_key}/SMS/9876543210/AUTOGEN"
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(url, timeout=0.2)  # the client gives up; the emulator still holds it
        emulator.reset(settings=True)  # the next test starts
        time.sleep(HOLD_S + 0.5)  # the held request is answered (or dropped) meanwhile
        assert emulator.requests == []
        # and the log still works for the new generation
        requests.get(url, timeout=5)
        assert [entry.status for entry in emulator.requests] == [200]
