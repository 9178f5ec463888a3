"""The encrypted endpoints (module=ENC, GCM and CBC): send and delivery lookup, and the
documented errors (missing Secret-Key, wrong secret, GET)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import requests

from twofactor_notify import (
    AESCodec,
    AuthenticationError,
    ConfigurationError,
    DecryptionError,
    DeliveryStatus,
    InvalidInputError,
    RequestRejectedError,
)
from twofactor_notify.validation import IST

from .conftest import wait_for_requests

A = "9876543210"


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_send_encrypted(emulator, make_client, wire, mode):
    client = make_client(encryption_mode=mode)
    sent = client.send_sms_encrypted([A, "+91 91234 56780"], "Your code", sender="TFACTR")
    method, path, body = wire.calls[0]
    assert (method, path) == ("POST", f"/API/R1/?module=ENC&encmode={mode}")
    # the body on the wire is the codec's text of the JSON payload, not the payload itself
    assert b"TRANS_SMS" not in body and emulator.api_key.encode() not in body
    plain = json.loads(AESCodec(emulator.secret_key, mode).decrypt(body.decode()))
    assert plain == {
        "module": "TRANS_SMS",
        "apikey": emulator.api_key,
        "to": "919876543210,919123456780",
        "from": "TFACTR",
        "msg": "Your code",
    }
    records = emulator.messages()
    assert {r.to for r in records} == {"+919876543210", "+919123456780"}
    assert all(r.encrypted and r.id == sent.message_id for r in records)
    assert sent.to == ("+919876543210", "+919123456780")


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_lookup_delivery_found_pending_then_delivered(emulator, make_client, mode):
    emulator.delivery_delay = 0.2
    client = make_client(encryption_mode=mode)
    sent = client.send_sms(A, "hello", sender="TFACTR")
    early = client.lookup_delivery(sent.message_id)
    assert early.found and early.status is DeliveryStatus.PENDING
    assert early.details == "1 record found for the specified filters"
    time.sleep(0.25)
    late = client.lookup_delivery(sent.message_id)
    assert late.found and late.status is DeliveryStatus.DELIVERED
    assert late.sent_at is not None and late.delivered_at is not None
    assert late.delivered_at >= late.sent_at


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_lookup_outcome_set_by_the_emulator(emulator, make_client, mode):
    emulator.delivery_delay = 0.0
    emulator.set_outcome(A, "DLT-CNT-REJECT")
    client = make_client(encryption_mode=mode)
    sent = client.send_sms_encrypted(A, "hello", sender="TFACTR")
    found = client.lookup_delivery(sent.message_id)
    assert found.status is DeliveryStatus.DLT_CNT_REJECT
    assert found.status.final and not found.status.delivered


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_lookup_not_found(emulator, make_client, mode):
    client = make_client(encryption_mode=mode)
    missing = client.lookup_delivery("09cfe5b29d000018a3acb36000000001", date.today())
    assert not missing.found
    assert missing.status is None
    assert missing.details == "No records found for the specified filters"
    sent = client.send_sms(A, "hello", sender="TFACTR")
    other_day = client.lookup_delivery(sent.message_id, date.today() - timedelta(days=3))
    assert not other_day.found


def test_lookup_validates_before_sending(emulator, client):
    with pytest.raises(InvalidInputError) as caught:
        client.lookup_delivery("../x", date.today())
    assert caught.value.field == "session_id"
    with pytest.raises(InvalidInputError) as caught:
        client.lookup_delivery("abc", "2024-01-18")
    assert caught.value.field == "sms_date"
    assert emulator.requests == []


def test_no_secret_key_is_a_configuration_error(emulator, make_client):
    client = make_client(secret_key=None)
    with pytest.raises(ConfigurationError):
        client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert emulator.requests == []


def test_wrong_secret_key(emulator, make_client):
    client = make_client(secret_key="not-the-account-secret-key-0000")
    with pytest.raises(AuthenticationError) as caught:
        client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert caught.value.status == 400
    assert caught.value.details.startswith("Decryption failed")
    with pytest.raises(AuthenticationError):
        client.lookup_delivery("abc", date.today())
    assert emulator.messages() == []


def test_right_secret_wrong_framing(emulator, make_client):
    # the header carries the right secret, but the payload is sealed with another key
    client = make_client(codec=AESCodec("some-other-key-entirely-123456", "GCM"))
    with pytest.raises(AuthenticationError) as caught:
        client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert "could not be decrypted" in caught.value.details


def test_missing_secret_key_header(emulator, client):
    token = AESCodec(emulator.secret_key, "GCM").encrypt(b'{"module":"TRANS_SMS"}')
    raw = requests.post(f"{emulator.url}/API/R1/?module=ENC&encmode=GCM", data=token, timeout=5)
    assert raw.status_code == 400
    assert raw.json() == {
        "Status": "Error",
        "Details": "Secret-Key is missing in the request header",
    }
    emulator.inject(
        "status", times=1, status=400, body=raw.text, content_type=raw.headers["Content-Type"]
    )
    with pytest.raises(AuthenticationError) as caught:
        client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert caught.value.details == "Secret-Key is missing in the request header"


def test_get_is_not_supported(emulator, client):
    raw = requests.get(
        f"{emulator.url}/API/R1/?module=ENC&encmode=GCM",
        headers={"Secret-Key": emulator.secret_key},
        timeout=5,
    )
    assert raw.status_code == 400
    assert raw.json()["Details"] == "HTTP GET is not supported on this endpoint"
    emulator.inject(
        "status", times=1, status=400, body=raw.text, content_type=raw.headers["Content-Type"]
    )
    with pytest.raises(RequestRejectedError) as caught:
        client.lookup_delivery("abc", date.today())
    assert caught.value.details == "HTTP GET is not supported on this endpoint"


def test_unreadable_encrypted_answer_is_decryption_error(emulator, client):
    emulator.inject(
        "status", times=1, status=200, body="bm90IG91ciBmcmFtaW5n", content_type="text/plain"
    )
    with pytest.raises(DecryptionError) as caught:
        client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert caught.value.status == 200
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_encrypted_answer_with_encrypted_details(emulator, client):
    # the reference's sample keeps Details itself encrypted: it is decrypted for the caller
    codec = AESCodec(emulator.secret_key, "GCM")
    inner = codec.encrypt(b"09cfe5b29d000018a3acb36000000001")
    answer = codec.encrypt(json.dumps({"Status": "Success", "Details": inner}).encode())
    emulator.inject("status", times=1, status=200, body=answer, content_type="text/plain")
    sent = client.send_sms_encrypted(A, "x", sender="TFACTR")
    assert sent.message_id == "09cfe5b29d000018a3acb36000000001"
    assert len(wait_for_requests(emulator, 1)) == 1


def _asked_day(emulator, wire) -> str:
    _, path, body = wire.calls[-1]
    assert "module=ENC" in path
    plain = json.loads(AESCodec(emulator.secret_key, "GCM").decrypt(body.decode()))
    assert plain["module"] == "TRANS_SMS_DLR"
    return str(plain["smsdate"])


@pytest.mark.parametrize(
    ("given", "asked"),
    [
        # 20:00 UTC is already the next day in India, where 2Factor files the message
        (datetime(2026, 12, 1, 20, 0, tzinfo=UTC), "2026-12-02"),
        (datetime(2026, 12, 1, 18, 29, 59, tzinfo=UTC), "2026-12-01"),
        (datetime(2026, 12, 1, 18, 30, tzinfo=UTC), "2026-12-02"),
        (datetime(2026, 12, 2, 1, 0, tzinfo=IST), "2026-12-02"),
        (date(2026, 12, 1), "2026-12-01"),
        (datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=-8))), "2026-12-02"),
    ],
)
def test_lookup_asks_for_the_day_in_ist(emulator, make_client, wire, given, asked):
    client = make_client(encryption_mode="GCM")
    client.lookup_delivery("abc", given)
    assert _asked_day(emulator, wire) == asked


def test_lookup_defaults_to_today_in_ist(emulator, make_client, wire):
    client = make_client(encryption_mode="GCM")
    sent = client.send_sms(A, "hello", sender="TFACTR")
    before = datetime.now(IST).strftime("%Y-%m-%d")
    assert client.lookup_delivery(sent.message_id).found
    after = datetime.now(IST).strftime("%Y-%m-%d")
    assert _asked_day(emulator, wire) in {before, after}


def test_lookup_reads_a_naive_datetime_as_ist(emulator, make_client, wire):
    client = make_client(encryption_mode="GCM")
    client.lookup_delivery("abc", datetime(2026, 12, 1, 23, 0))
    assert _asked_day(emulator, wire) == "2026-12-01"
