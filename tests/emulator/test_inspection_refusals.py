"""The inspection API refuses what it would otherwise ignore: an unknown ``config`` key, a
delivery status 2Factor never reports. Each accepted key and status is walked too."""

from __future__ import annotations

import pytest

from twofactor_notify.emulator import Emulator
from twofactor_notify.emulator.routes.inspection import CONFIG_KEYS
from twofactor_notify.emulator.state import OUTCOMES

from .test_inspection import api


@pytest.mark.parametrize("key", ["callbak_url", "latency", "Sandbox", "outcomes"])
def test_an_unknown_config_key_is_refused_and_nothing_applied(
    twofactor_emulator: Emulator, key: str
) -> None:
    answer = api(twofactor_emulator, "POST", "config", json={key: 1, "latency_ms": 250})
    assert answer.status_code == 400
    assert key in answer.json()["error"] or key in answer.text
    assert twofactor_emulator.latency_ms == 0.0


def test_every_accepted_config_key_is_taken(twofactor_emulator: Emulator) -> None:
    values = {
        "callback_url": "http://127.0.0.1:9/dlr",
        "latency_ms": 0,
        "sandbox": False,
        "json_content_type": "application/json",
        "sandbox_style_success": False,
    }
    assert set(values) == set(CONFIG_KEYS)
    for key, value in values.items():
        assert api(twofactor_emulator, "POST", "config", json={key: value}).status_code == 200


@pytest.mark.parametrize("status", ["WEIRD", "delivered ", "", "OTHER"])
def test_an_unknown_outcome_is_refused(twofactor_emulator: Emulator, status: str) -> None:
    answer = api(
        twofactor_emulator, "POST", "outcome", json={"phone": "9876543210", "status": status}
    )
    assert answer.status_code == 400
    assert repr(status) in answer.text or status in answer.text
    with pytest.raises(ValueError, match="unknown delivery status"):
        twofactor_emulator.set_outcome("9876543210", status)
    with pytest.raises(ValueError, match="unknown delivery status"):
        twofactor_emulator.set_outcomes({status: 1.0})


@pytest.mark.parametrize("status", OUTCOMES)
def test_every_reported_status_is_accepted(twofactor_emulator: Emulator, status: str) -> None:
    answer = api(
        twofactor_emulator, "POST", "outcome", json={"phone": "9876543210", "status": status}
    )
    assert answer.status_code == 200, answer.text
