"""Fault injection: statuses, HTML pages, truncation, resets, timeouts, latency, matching."""

from __future__ import annotations

import json
import time

import pytest
import requests

from twofactor_notify.emulator import Emulator


def send_otp(emu: Emulator, timeout: float = 5) -> requests.Response:
    return requests.get(f"{emu.url}/API/V1/{emu.api_key}/SMS/9876543210/AUTOGEN", timeout=timeout)


def test_status_fault_with_retry_after(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("status", status=429, times=1, retry_after=3)
    limited = send_otp(twofactor_emulator)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert limited.json() == {"Status": "Error", "Details": "Too Many Requests"}
    assert twofactor_emulator.messages() == []
    assert send_otp(twofactor_emulator).status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(twofactor_emulator: Emulator, status: int) -> None:
    twofactor_emulator.inject("status", status=status, body="upstream down")
    answer = send_otp(twofactor_emulator)
    assert (answer.status_code, answer.text) == (status, "upstream down")
    assert answer.headers["Content-Type"] == "text/plain"


def test_html_pages(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("html", times=1)
    twofactor_emulator.inject("html", status=200, times=1, body="<html>captive portal</html>")
    bad_gateway = send_otp(twofactor_emulator)
    portal = send_otp(twofactor_emulator)
    assert bad_gateway.status_code == 502 and "<h1>502 Bad Gateway</h1>" in bad_gateway.text
    assert (portal.status_code, portal.headers["Content-Type"]) == (200, "text/html")


def test_echo_repeats_the_request_and_processes_nothing(twofactor_emulator: Emulator) -> None:
    import base64

    emu = twofactor_emulator
    emu.inject("echo", times=1)
    echoed = requests.post(
        f"{emu.url}/API/R1/?module=ENC&encmode=GCM",
        data=b"ciphertext",
        headers={"Secret-Key": emu.secret_key},
        timeout=5,
    )
    assert echoed.status_code == 400
    assert echoed.headers["X-Echo-Path"] == "/API/R1/?module=ENC&encmode=GCM"
    assert echoed.headers["X-Echo-Secret-Key"] == emu.secret_key
    assert echoed.json()["Details"].endswith("ciphertext")
    assert emu.secret_key in base64.b64decode(echoed.headers["X-Echo-Request"]).decode()
    answer = send_otp(emu)  # the fault is used up: the next request is served
    assert answer.status_code == 200 and len(emu.messages()) == 1


def test_truncated_json_is_processed(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("truncated", times=1)
    answer = send_otp(twofactor_emulator)
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)
    assert len(twofactor_emulator.messages()) == 1


def test_reset_before_has_no_effect(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("reset_before", times=1, match="/SMS/")
    with pytest.raises(requests.ConnectionError):
        send_otp(twofactor_emulator)
    assert twofactor_emulator.messages() == []
    assert twofactor_emulator.requests[-1].fault == "reset_before"
    assert twofactor_emulator.requests[-1].status is None


def test_reset_after_was_processed(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("reset_after", times=1, match="/SMS/")
    with pytest.raises(requests.ConnectionError):
        send_otp(twofactor_emulator)
    assert len(twofactor_emulator.messages()) == 1


def test_timeout_holds_longer_than_the_client_waits(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("timeout", times=1, seconds=1.0)
    with pytest.raises(requests.Timeout):
        send_otp(twofactor_emulator, timeout=0.3)
    assert len(twofactor_emulator.messages()) == 1


def test_latency(twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    twofactor_emulator.inject("latency", latency_ms=120, times=1)
    send_otp(twofactor_emulator)
    assert twofactor_emulator.requests[-1].duration_ms >= 120
    monkeypatch.setattr(twofactor_emulator, "latency_ms", 80.0)
    started = time.perf_counter()
    send_otp(twofactor_emulator)
    assert time.perf_counter() - started >= 0.08


def test_match_and_rate(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("status", status=503, match="/API/R1/Bulk")
    twofactor_emulator.inject("status", status=500, rate=0.0)
    assert send_otp(twofactor_emulator).status_code == 200
    twofactor_emulator.clear_faults()
    twofactor_emulator.inject("status", status=500, rate=1.0, times=2)
    assert [send_otp(twofactor_emulator).status_code for _ in range(3)] == [500, 500, 200]


def test_bad_fault_arguments(twofactor_emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        twofactor_emulator.inject("explode")
    with pytest.raises(ValueError, match="rate"):
        twofactor_emulator.inject("status", rate=2)
    with pytest.raises(TypeError):
        twofactor_emulator.inject("status", colour="red")


def test_faults_spare_the_inspection_api(twofactor_emulator: Emulator) -> None:
    twofactor_emulator.inject("reset_before")
    assert requests.get(f"{twofactor_emulator.url}/__emulator__/health", timeout=5).ok
    twofactor_emulator.reset()
    assert send_otp(twofactor_emulator).status_code == 200
