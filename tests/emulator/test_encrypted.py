"""Encrypted endpoints (``/API/R1/?module=ENC``): send, delivery lookup, plaintext errors."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from twofactor_notify.codec import AESCodec, EncryptionMode
from twofactor_notify.emulator import Emulator
from twofactor_notify.validation import IST


def call(
    emu: Emulator,
    payload: dict[str, Any],
    mode: EncryptionMode | None = "GCM",
    secret: str | None = None,
) -> requests.Response:
    codec = AESCodec(secret or emu.secret_key, mode or "CBC")
    query = "?module=ENC" + (f"&encmode={mode}" if mode else "")
    return requests.post(
        f"{emu.url}/API/R1/{query}",
        data=codec.encrypt(json.dumps(payload).encode()),
        headers={"Secret-Key": secret or emu.secret_key},
        timeout=5,
    )


def opened(emu: Emulator, answer: requests.Response, mode: EncryptionMode = "GCM") -> Any:
    assert answer.status_code == 200, answer.text
    return json.loads(AESCodec(emu.secret_key, mode).decrypt(answer.text))


def sms(emu: Emulator) -> dict[str, str]:
    return {
        "module": "TRANS_SMS",
        "apikey": emu.api_key,
        "to": "919876543210",
        "from": "TFACTR",
        "msg": "Your DLT Approved SMS Text",
    }


@pytest.mark.parametrize("mode", ["GCM", "CBC", None])
def test_send_answers_encrypted(twofactor_emulator: Emulator, mode: EncryptionMode | None) -> None:
    answer = call(twofactor_emulator, sms(twofactor_emulator), mode)
    body = opened(twofactor_emulator, answer, mode or "CBC")
    assert body["Status"] == "Success"
    record = twofactor_emulator.messages("9876543210")[-1]
    assert record.id == body["Details"] and record.encrypted


def test_delivery_lookup(twofactor_emulator: Emulator) -> None:
    sent = opened(twofactor_emulator, call(twofactor_emulator, sms(twofactor_emulator)))
    time.sleep(twofactor_emulator.delivery_delay + 0.05)
    today = datetime.now(IST).strftime("%Y-%m-%d")
    lookup = {
        "module": "TRANS_SMS_DLR",
        "apikey": twofactor_emulator.api_key,
        "sessionid": sent["Details"],
        "smsdate": today,
    }
    body = opened(twofactor_emulator, call(twofactor_emulator, lookup))
    assert body["Status"] == "Success"
    assert body["Details"] == "1 record found for the specified filters"
    assert body["DeliveryStatus"] == "DELIVERED"
    assert datetime.strptime(body["SentAt"], "%Y-%m-%d %H:%M:%S")
    assert datetime.strptime(body["DeliveredAt"], "%Y-%m-%d %H:%M:%S")
    other_day = opened(
        twofactor_emulator, call(twofactor_emulator, {**lookup, "smsdate": "2024-01-18"})
    )
    assert other_day == {
        "Status": "Success",
        "Details": "No records found for the specified filters",
    }


def test_missing_secret_key_header(twofactor_emulator: Emulator) -> None:
    answer = requests.post(f"{twofactor_emulator.url}/API/R1/?module=ENC", data="x", timeout=5)
    assert (answer.status_code, answer.json()) == (
        400,
        {"Status": "Error", "Details": "Secret-Key is missing in the request header"},
    )


def test_get_is_refused(twofactor_emulator: Emulator) -> None:
    answer = requests.get(f"{twofactor_emulator.url}/API/R1?module=ENC", timeout=5)
    assert answer.json() == {
        "Status": "Error",
        "Details": "HTTP GET is not supported on this endpoint",
    }


def test_wrong_secret_or_garbage_fails_decryption(twofactor_emulator: Emulator) -> None:
    other = twofactor_emulator.add_account("99999999-8888-7777-6666-555555555555")
    wrong = requests.post(
        f"{twofactor_emulator.url}/API/R1/?module=ENC&encmode=GCM",
        data=AESCodec(other.secret_key, "GCM").encrypt(b"{}"),
        headers={"Secret-Key": twofactor_emulator.secret_key},
        timeout=5,
    )
    unknown = call(twofactor_emulator, sms(twofactor_emulator), secret="not-a-known-secret")
    garbage = requests.post(
        f"{twofactor_emulator.url}/API/R1/?module=ENC",
        data="bm90IGVuY3J5cHRlZA==",
        headers={"Secret-Key": twofactor_emulator.secret_key},
        timeout=5,
    )
    for answer in (wrong, unknown, garbage):
        assert answer.status_code == 400
        assert answer.json()["Status"] == "Error"
        assert answer.json()["Details"].startswith("Decryption failed")
    # GCM ciphertext read as CBC (the default) fails too
    assert call(twofactor_emulator, sms(twofactor_emulator), "GCM").status_code == 200
    mixed = requests.post(
        f"{twofactor_emulator.url}/API/R1/?module=ENC",
        data=AESCodec(twofactor_emulator.secret_key, "GCM").encrypt(b'{"module":"TRANS_SMS"}'),
        headers={"Secret-Key": twofactor_emulator.secret_key},
        timeout=5,
    )
    assert mixed.json()["Details"].startswith("Decryption failed")


def test_errors_inside_the_payload_are_plaintext(twofactor_emulator: Emulator) -> None:
    bad_key = call(twofactor_emulator, {**sms(twofactor_emulator), "apikey": "nope"})
    assert bad_key.json() == {"Status": "Error", "Details": "Invalid API Key"}
    bad_module = call(twofactor_emulator, {**sms(twofactor_emulator), "module": "PROMO_SMS"})
    assert bad_module.json()["Details"] == "Invalid Module - Expected TRANS_SMS or TRANS_SMS_DLR"
    no_to = call(twofactor_emulator, {**sms(twofactor_emulator), "to": ""})
    assert no_to.json()["Details"] == "Missing Parameter - to"
    bad_date = call(
        twofactor_emulator,
        {
            "module": "TRANS_SMS_DLR",
            "apikey": twofactor_emulator.api_key,
            "sessionid": "x",
            "smsdate": "18-01-2024",
        },
    )
    assert bad_date.json()["Details"] == "Invalid smsdate - Expected YYYY-MM-DD"
