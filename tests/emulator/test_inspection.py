"""The ``/__emulator__/`` JSON API and the redacted request log."""

from __future__ import annotations

import requests

from twofactor_notify.emulator import Emulator

from .conftest import Receiver


def api(emu: Emulator, method: str, name: str, **kwargs: object) -> requests.Response:
    """A call of the inspection API as a script makes it (JSON content type on writes)."""
    if method != "GET":
        kwargs.setdefault("headers", {"Content-Type": "application/json"})
    return requests.request(method, f"{emu.url}/__emulator__/{name}", timeout=5, **kwargs)  # type: ignore[arg-type]


def test_health_messages_and_otp(twofactor_emulator: Emulator) -> None:
    assert api(twofactor_emulator, "GET", "health").json() == {"status": "ok"}
    sent = requests.get(
        f"{twofactor_emulator.url}/API/V1/{twofactor_emulator.api_key}/SMS/9876543210/AUTOGEN2",
        timeout=5,
    ).json()
    messages = api(twofactor_emulator, "GET", "messages", params={"phone": "+919876543210"})
    [record] = messages.json()["messages"]
    assert (record["to"], record["otp"], record["kind"]) == ("+919876543210", sent["OTP"], "otp")
    otp = api(twofactor_emulator, "GET", "otp", params={"phone": "9876543210"}).json()
    assert otp["otp"] == sent["OTP"]
    assert api(twofactor_emulator, "GET", "otp", params={"phone": "9000000000"}).status_code == 404
    assert len(api(twofactor_emulator, "GET", "messages").json()["messages"]) == 1


def test_request_log_never_shows_the_key(twofactor_emulator: Emulator) -> None:
    key = twofactor_emulator.api_key
    requests.get(f"{twofactor_emulator.url}/API/V1/{key}/SMS/9876543210/AUTOGEN", timeout=5)
    requests.get(
        f"{twofactor_emulator.url}/API/R1/",
        params={
            "module": "TRANS_SMS",
            "apikey": key,
            "to": "919876543210",
            "from": "TFACTR",
            "msg": "x",
        },
        timeout=5,
    )
    entries = api(twofactor_emulator, "GET", "requests").json()["requests"]
    assert [e["status"] for e in entries] == [200, 200]
    assert entries[0]["path"] == "/API/V1/<redacted>/SMS/9876543210/AUTOGEN"
    assert "apikey=<redacted>" in entries[1]["path"]
    assert key not in repr(twofactor_emulator.requests) and key not in str(entries)
    assert key not in repr(twofactor_emulator) and key not in repr(twofactor_emulator.messages())


def test_faults_and_reset(twofactor_emulator: Emulator) -> None:
    created = api(twofactor_emulator, "POST", "faults", json={"kind": "status", "status": 502})
    assert created.status_code == 201 and created.json()["fault"]["status"] == 502
    assert len(api(twofactor_emulator, "GET", "faults").json()["faults"]) == 1
    assert api(twofactor_emulator, "POST", "faults", json={"kind": "nope"}).status_code == 400
    assert api(twofactor_emulator, "DELETE", "faults").json() == {"faults": []}
    api(twofactor_emulator, "POST", "faults", json={"kind": "status"})
    assert api(twofactor_emulator, "POST", "reset").json() == {"reset": True}
    assert twofactor_emulator.faults.active() == []


def test_click_outcome_config_and_deliveries(
    twofactor_emulator: Emulator, receiver: Receiver
) -> None:
    config = {"callback_url": receiver.url, "latency_ms": 0, "sandbox_style_success": False}
    try:
        assert api(twofactor_emulator, "POST", "config", json=config).ok
        api(twofactor_emulator, "POST", "outcome", json={"phone": "9876543210", "status": "FAILED"})
        requests.post(
            f"{twofactor_emulator.url}/API/R1/",
            data={
                "module": "TRANS_SMS",
                "apikey": twofactor_emulator.api_key,
                "to": "919876543210",
                "from": "TFACTR",
                "msg": "x",
                "campaignname": "C",
                "campaignwebhook": receiver.url + "/clicks",
            },
            timeout=5,
        )
        clicked = api(twofactor_emulator, "POST", "click", json={"target": "9876543210"})
        assert clicked.json()["payload"]["campaignName"] == "C"
        twofactor_emulator.wait_for_deliveries(2)
        deliveries = api(twofactor_emulator, "GET", "deliveries").json()["deliveries"]
        kinds = {d["kind"]: d for d in deliveries}
        assert kinds["delivery"]["payload"]["SmsStatus"] == "FAILED"
        assert kinds["click"]["content_type"] == "application/x-www-form-urlencoded"
        missing = api(twofactor_emulator, "POST", "click", json={"target": "9000000000"})
        assert missing.status_code == 404
    finally:
        twofactor_emulator.callback_url = None


def test_unknown_and_malformed(twofactor_emulator: Emulator) -> None:
    assert api(twofactor_emulator, "GET", "nothing").status_code == 404
    assert api(twofactor_emulator, "POST", "faults", data="{bad").status_code == 400
