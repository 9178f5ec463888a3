"""The HTTP server: keep-alive, concurrency, chunked bodies, the standalone process."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from twofactor_notify.emulator import Emulator


def test_keep_alive_serves_many_requests_on_one_connection(twofactor_emulator: Emulator) -> None:
    host, port = twofactor_emulator.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        for _ in range(5):
            conn.request("GET", f"/API/V1/{twofactor_emulator.api_key}/SMS/9876543210/AUTOGEN")
            answer = conn.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["Status"] == "Success"
            assert answer.getheader("Connection") is None
    finally:
        conn.close()


def test_chunked_body(twofactor_emulator: Emulator) -> None:
    body = json.dumps(
        {
            "module": "TRANS_SMS",
            "apikey": twofactor_emulator.api_key,
            "messages": [{"smsFrom": "TFACTR", "smsTo": "+919876543210", "smsText": "x"}],
        }
    ).encode()
    answer = requests.post(
        f"{twofactor_emulator.url}/API/R1/Bulk/",
        data=iter([body[:10], body[10:]]),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.json()["messageCount"] == 1


def test_concurrent_keep_alive_clients_with_latency(
    twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """64 clients, 4 requests each, 50 ms latency: all answered, none lost."""
    monkeypatch.setattr(twofactor_emulator, "latency_ms", 50.0)

    def client(n: int) -> list[int]:
        with requests.Session() as session:
            url = f"{twofactor_emulator.url}/API/V1/{twofactor_emulator.api_key}/SMS/"
            return [
                session.get(f"{url}98765{n:05d}/AUTOGEN", timeout=10).status_code for _ in range(4)
            ]

    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = [s for result in pool.map(client, range(64)) for s in result]
    assert statuses == [200] * 256
    assert len(twofactor_emulator.messages()) == 256


def test_context_manager_and_accounts() -> None:
    with Emulator(api_key="7e825d24-0000-0000-0000-0200cd936042", secret_key="s" * 32) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        assert (emu.api_key, emu.secret_key) == ("7e825d24-0000-0000-0000-0200cd936042", "s" * 32)
    with pytest.raises(RuntimeError):
        _ = emu.url


def test_standalone_process_prints_its_banner() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "twofactor_notify.emulator", "--port", "0", "--latency", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        key_line = proc.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        api_key = key_line.split(":", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/__emulator__/health", timeout=5).ok
        sent = requests.get(f"{url}/API/V1/{api_key}/SMS/9876543210/AUTOGEN", timeout=5)
        assert sent.json()["Status"] == "Success"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
