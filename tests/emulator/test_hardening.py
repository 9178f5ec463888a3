"""Regression tests from the emulator review: stop(), memory caps, fault parameters,
inspection API security, bulk media type, reseeding, redaction, the process, bad bodies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from twofactor_notify.emulator import Emulator, state
from twofactor_notify.emulator.cli import exposure_warning

from .conftest import Receiver

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+919876543210"


def _otp_url(emu: Emulator, phone: str = "9876543210", key: str | None = None) -> str:
    return f"{emu.url}/API/V1/{key or emu.api_key}/SMS/{phone}/AUTOGEN2"


def _bulk(emu: Emulator, messages: list[dict[str, str]], **headers: str) -> requests.Response:
    body = json.dumps({"module": "TRANS_SMS", "apikey": emu.api_key, "messages": messages})
    return requests.post(
        f"{emu.url}/API/R1/Bulk/",
        data=body,
        headers=headers or {"Content-Type": "application/json"},
        timeout=5,
    )


def _msg(to: str = PHONE, text: str = "hi") -> dict[str, str]:
    return {"smsFrom": "TFACTR", "smsTo": to, "smsText": text}


def _raw(emu: Emulator, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection and return what comes back before it closes."""
    host, port = emu.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


_EARLIER: set[threading.Thread] = set()


def _emulator_threads() -> list[threading.Thread]:
    """Live emulator threads, except those that existed before the test's emulator started
    (the session emulator's)."""
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("2factor-emulator") and t not in _EARLIER
    ]


@pytest.fixture
def _threads_before() -> None:
    _EARLIER.clear()
    _EARLIER.update(threading.enumerate())


# ---------------------------------------------------------------------- 4. stop()


@pytest.mark.usefixtures("_threads_before")
def test_stop_ends_kept_alive_connections_and_every_thread(receiver: Receiver) -> None:
    emu = Emulator(callback_url=receiver.url + "/dlr").start()
    session = requests.Session()
    try:
        assert session.get(_otp_url(emu), timeout=5).status_code == 200
        requests.post(
            f"{emu.url}/API/R1/",
            data={"module": "TRANS_SMS", "apikey": emu.api_key, "to": "919876543210"}
            | {"from": "TFACTR", "msg": "x", "campaignname": "C"}
            | {"campaignwebhook": receiver.url + "/clicks"},
            timeout=5,
        )
        emu.wait_for_deliveries(1)  # the callback and delivery threads are running
        url = _otp_url(emu)
        emu.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=5)  # the kept-alive connection was closed, not served
        deadline = time.monotonic() + 3
        while _emulator_threads() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _emulator_threads() == []
        emu.trigger_click(PHONE)  # a click after stop() must not restart the callback threads
        assert _emulator_threads() == []
    finally:
        session.close()
        emu.stop()


@pytest.mark.usefixtures("_threads_before")
def test_callbacks_are_refused_after_stop_and_accepted_after_start(receiver: Receiver) -> None:
    emu = Emulator(callback_url=receiver.url + "/dlr").start()
    emu.stop()
    emu._scheduler.schedule(())  # nothing to do, and must not start a thread
    from twofactor_notify.emulator.callbacks import Callback

    assert emu._poster.submit(Callback("delivery", receiver.url, {})) is False
    assert _emulator_threads() == []
    emu.start()
    try:
        requests.get(_otp_url(emu), timeout=5)
        assert _bulk(emu, [_msg()]).status_code == 200
        emu.wait_for_deliveries(1)
    finally:
        emu.stop()


# ---------------------------------------------------------------------- 5. memory caps


def test_max_messages_forgets_the_oldest_from_every_index() -> None:
    with Emulator(max_messages=5) as emu:
        phones = [f"98765432{n:02d}" for n in range(8)]
        for phone in phones:
            assert requests.get(_otp_url(emu, phone), timeout=5).status_code == 200
        kept = emu.messages()
        assert [m.to for m in kept] == ["+91" + p for p in phones[3:]]
        assert emu.messages(phones[0]) == []
        assert emu.last_otp(phones[0]) is None
        assert emu.last_otp(phones[-1]) is not None
        assert emu._state.messages_by_id(kept[0].id) == [kept[0]]


def test_max_messages_with_one_busy_number() -> None:
    with Emulator(max_messages=20) as emu:
        for chunk in range(3):
            answer = _bulk(emu, [_msg(text=f"m{chunk}-{n}") for n in range(50)])
            assert answer.json()["messageCount"] == 50
        texts = [m.text for m in emu.messages(PHONE)]
        assert texts == [f"m2-{n}" for n in range(30, 50)]
        assert [m.text for m in emu.messages()] == texts


def test_otp_sessions_are_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    with Emulator(max_messages=3) as emu:
        first = requests.get(_otp_url(emu, "9876543200"), timeout=5).json()
        for n in range(1, 6):
            requests.get(_otp_url(emu, f"98765432{n:02d}"), timeout=5)
        assert emu._state.session_count() == 3
        gone = requests.get(
            f"{emu.url}/API/V1/{emu.api_key}/SMS/VERIFY/{first['Details']}/{first['OTP']}",
            timeout=5,
        )
        assert "No Entry Exists" in gone.json()["Details"]
    monkeypatch.setattr(state, "SESSION_GRACE", 0.0)
    with Emulator(otp_ttl=0.01) as emu:
        requests.get(_otp_url(emu, "9876543200"), timeout=5)
        time.sleep(0.05)
        requests.get(_otp_url(emu, "9876543201"), timeout=5)
        assert emu._state.session_count() == 1  # the expired one went


def test_deliveries_are_capped_but_all_counted(receiver: Receiver) -> None:
    with Emulator(callback_url=receiver.url + "/dlr", max_deliveries=3) as emu:
        assert _bulk(emu, [_msg(f"+91987654321{n}") for n in range(5)]).status_code == 200
        kept = emu.wait_for_deliveries(5)
        assert len(kept) == 3
        assert len(emu.deliveries) == 3


# ---------------------------------------------------------------------- 6. fault parameters


def test_fault_parameters_are_coerced_or_refused(twofactor_emulator: Emulator) -> None:
    fault = twofactor_emulator.inject("latency", latency_ms="30", times="1")  # type: ignore[arg-type]
    assert (fault.latency_ms, fault.times) == (30.0, 1)
    for bad in ({"status": "abc"}, {"status": 99}, {"status": 600}, {"retry_after": "x"}):
        with pytest.raises(ValueError):
            twofactor_emulator.inject("status", **bad)
    with pytest.raises(ValueError):
        twofactor_emulator.inject("latency", latency_ms=-1)
    with pytest.raises(ValueError):
        twofactor_emulator.inject("timeout", seconds="soon")
    url = f"{twofactor_emulator.url}/__emulator__/faults"
    for body in (
        {"kind": "status", "status": "abc"},
        {"kind": "latency", "latency_ms": "slow"},
        {"kind": "status", "retry_after": -1},
        {"kind": "status", "times": 0},
        {"kind": "status", "fired": "x"},
        {"kind": "status", "match": 5},
    ):
        assert requests.post(url, json=body, timeout=5).status_code == 400, body
    assert requests.get(_otp_url(twofactor_emulator), timeout=5).status_code == 200


# ---------------------------------------------------------------------- 7. inspection security


def test_inspection_api_refuses_browser_style_requests(twofactor_emulator: Emulator) -> None:
    base = f"{twofactor_emulator.url}/__emulator__"
    twofactor_emulator.inject("status", status=503, match="/nothing/")
    plain = requests.post(f"{base}/reset", data="{}", timeout=5)  # no JSON content type
    assert plain.status_code == 415
    form = requests.delete(
        f"{base}/faults",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert form.status_code == 415
    with_origin = requests.post(
        f"{base}/reset", json={}, headers={"Origin": "https://evil.example"}, timeout=5
    )
    assert with_origin.status_code == 403
    assert (
        requests.get(f"{base}/messages", headers={"Origin": "null"}, timeout=5).status_code == 403
    )
    assert len(twofactor_emulator.faults.active()) == 1  # none of those did anything
    assert requests.delete(f"{base}/faults", json={}, timeout=5).status_code == 200
    assert twofactor_emulator.faults.active() == []


def test_dns_rebinding_host_names_are_refused(twofactor_emulator: Emulator) -> None:
    port = twofactor_emulator.url.rsplit(":", 1)[1]
    base = twofactor_emulator.url
    evil = {"Host": f"rebind.evil.example:{port}"}
    assert requests.get(f"{base}/__emulator__/messages", headers=evil, timeout=5).status_code == 403
    assert requests.get(_otp_url(twofactor_emulator), headers=evil, timeout=5).status_code == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "app.localhost"):
        answer = requests.get(f"{base}/__emulator__/health", headers={"Host": host}, timeout=5)
        assert answer.status_code == 200, host
    assert twofactor_emulator.messages() == []


def test_allowed_hosts_admit_a_named_host() -> None:
    with Emulator(allowed_hosts=["emulator"]) as emu:
        port = emu.url.rsplit(":", 1)[1]
        ok = requests.get(
            f"{emu.url}/__emulator__/health", headers={"Host": f"emulator:{port}"}, timeout=5
        )
        assert ok.status_code == 200


def test_non_loopback_bind_warns() -> None:
    assert exposure_warning("127.0.0.1") is None
    assert exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    everywhere = "0.0.0.0"  # noqa: S104 - the point of the test
    warning = exposure_warning(everywhere)
    assert warning is not None and everywhere in warning
    process = subprocess.Popen(
        [sys.executable, "-m", "twofactor_notify.emulator", "--host", everywhere, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert "running at" in process.stdout.readline()
        assert process.stderr.readline().startswith(f"warning: listening on {everywhere}")
    finally:
        process.terminate()
        process.communicate(timeout=10)


# ---------------------------------------------------------------------- 8. bulk media type


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_bulk_needs_a_json_content_type(twofactor_emulator: Emulator, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    answer = _bulk(twofactor_emulator, [_msg()], **headers)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["success"], body["errorType"]) == (False, "ValidationError")
    assert body["details"][0]["error"] == "Failed to parse request body as JSON"
    assert twofactor_emulator.messages() == []
    ok = _bulk(twofactor_emulator, [_msg()], **{"Content-Type": "Application/JSON; charset=utf-8"})
    assert ok.status_code == 200


# ---------------------------------------------------------------------- 10. reset reseeds


def test_reset_reseeds_the_outcome_and_fault_rngs() -> None:
    def run(emu: Emulator) -> tuple[list[str], list[int]]:
        for _ in range(8):
            assert _bulk(emu, [_msg()]).status_code == 200
        outcomes = [m.outcome for m in emu.messages()]
        emu.inject("status", status=500, rate=0.5, match="/AUTOGEN2")
        statuses = [requests.get(_otp_url(emu), timeout=5).status_code for _ in range(12)]
        return outcomes, statuses

    with Emulator(seed=7, outcomes={"DELIVERED": 0.5, "FAILED": 0.5}) as emu:
        first = run(emu)
        emu.reset()
        second = run(emu)
    assert first == second
    assert len(set(first[0])) == 2 and len(set(first[1])) == 2  # a real mix was drawn


# ---------------------------------------------------------------------- 11. redaction


def test_request_log_hides_keys_on_near_miss_paths(twofactor_emulator: Emulator) -> None:
    key = twofactor_emulator.api_key
    secret = twofactor_emulator.secret_key
    other = twofactor_emulator.add_account("other-account-key")
    base = twofactor_emulator.url
    for path in (
        f"/api/v1/{key}/SMS/9876543210/AUTOGEN",
        f"//API/V1/{key}/SMS/9876543210/AUTOGEN",
        f"/API/R1/?module=TRANS_SMS&amp;apikey={key}&to=919876543210",
        f"/API/R1/?module=TRANS_SMS&to=919876543210&%61pikey={key}",
        f"/API/R1/?module=TRANS_SMS&x={other.api_key}&y={other.secret_key}&z={secret}",
        f"/nowhere/{key}",
    ):
        requests.get(base + path, timeout=5)
    logged = json.dumps([e.to_dict() for e in twofactor_emulator.requests])
    shown = requests.get(f"{base}/__emulator__/requests", timeout=5).text
    for value in (key, secret, other.api_key, other.secret_key):
        assert value not in logged
        assert value not in shown
    assert logged.count("<redacted>") >= 6


# ---------------------------------------------------------------------- 12. the process


def test_standalone_process_on_a_busy_port_fails_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "twofactor_notify.emulator", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    out_of_range = subprocess.run(
        [sys.executable, "-m", "twofactor_notify.emulator", "--port", "70000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out_of_range.returncode == 2
    assert "Traceback" not in out_of_range.stderr
    assert "65535" in out_of_range.stderr


# ---------------------------------------------------------------------- 13. malformed bodies


def test_malformed_chunked_body_and_bad_content_length_answer_400(
    twofactor_emulator: Emulator,
) -> None:
    head = b"POST /API/R1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    chunked = _raw(twofactor_emulator, head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert chunked.startswith(b"HTTP/1.1 400 ")
    cut = _raw(twofactor_emulator, head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab")
    assert cut.startswith(b"HTTP/1.1 400 ")
    negative = _raw(twofactor_emulator, head + b"Content-Length: -5\r\n\r\nmodule=TRANS_SMS")
    assert negative.startswith(b"HTTP/1.1 400 ")
    assert negative.count(b"HTTP/1.1") == 1  # the leftover bytes were not read as a request
    assert twofactor_emulator.messages() == []
    assert requests.get(_otp_url(twofactor_emulator), timeout=5).status_code == 200
