"""Delivery reports and click webhooks POSTed to a local receiver."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
import requests

from twofactor_notify.emulator import Emulator
from twofactor_notify.validation import IST
from twofactor_notify.webhooks import parse_click_report

from .conftest import Receiver

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@pytest.fixture
def reporting(
    twofactor_emulator: Emulator, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    monkeypatch.setattr(twofactor_emulator, "callback_url", receiver.url + "/dlr")
    return twofactor_emulator


def r1(emu: Emulator, **extra: str) -> str:
    data = {
        "module": "TRANS_SMS",
        "apikey": emu.api_key,
        "to": "919876543210,918765432109",
        "from": "TFACTR",
        "msg": "Hello",
        **extra,
    }
    answer = requests.post(f"{emu.url}/API/R1/", data=data, timeout=5)
    message_id: str = answer.json()["Details"]
    return message_id


def test_r1_reports_one_per_recipient(reporting: Emulator, receiver: Receiver) -> None:
    message_id = r1(reporting)
    got = receiver.wait(2)
    payloads = sorted((r.json() for r in got), key=lambda p: p["SmsTo"])
    assert [p["SmsTo"] for p in payloads] == ["8765432109", "9876543210"]
    for payload in payloads:
        assert set(payload) == {
            "SessionId",
            "SmsFrom",
            "SmsTo",
            "SmsStatus",
            "SentAt",
            "StatusAt",
            "callback_value1",
            "callback_value2",
        }
        assert payload["SessionId"] == message_id
        assert (payload["SmsFrom"], payload["SmsStatus"]) == ("TFACTR", "DELIVERED")
        assert STAMP.fullmatch(payload["SentAt"]) and STAMP.fullmatch(payload["StatusAt"])
    assert {r.path for r in got} == {"/dlr"}
    assert got[0].content_type == "application/json"
    attempts = reporting.wait_for_deliveries(2)
    assert all(a.ok and a.kind == "delivery" for a in attempts)


def test_bulk_reports_in_json_and_urlencoded(reporting: Emulator, receiver: Receiver) -> None:
    body = {
        "module": "TRANS_SMS",
        "apikey": reporting.api_key,
        "messages": [
            {
                "smsFrom": "TFACTR",
                "smsTo": "+919876543210",
                "smsText": "a",
                "callback_value1": "order_98765",
                "callback_value2": "cust_1122",
                "callback_format": "json",
            },
            {
                "smsFrom": "TFACTR",
                "smsTo": "+918765432109",
                "smsText": "b",
                "callback_value1": "txn_554433",
                "callback_format": "raw-url-encoded",
            },
        ],
    }
    answer = requests.post(f"{reporting.url}/API/R1/Bulk/", json=body, timeout=5).json()
    ids = [m["messageId"] for m in answer["messages"]]
    got = {r.content_type: r for r in receiver.wait(2)}
    as_json = got["application/json"].json()
    assert as_json["SessionId"] == ids[0]
    assert (as_json["SmsTo"], as_json["callback_value1"], as_json["callback_value2"]) == (
        "9876543210",
        "order_98765",
        "cust_1122",
    )
    form = parse_qs(got["application/x-www-form-urlencoded"].body.decode(), keep_blank_values=True)
    assert form["SessionId"] == [ids[1]] and form["callback_value1"] == ["txn_554433"]
    assert form["SmsStatus"] == ["DELIVERED"] and form["SmsTo"] == ["8765432109"]


def test_per_number_outcome(reporting: Emulator, receiver: Receiver) -> None:
    reporting.set_outcome("+91 98765 43210", "UNDELIVERED")
    r1(reporting)
    statuses = {p.json()["SmsTo"]: p.json()["SmsStatus"] for p in receiver.wait(2)}
    assert statuses == {"9876543210": "UNDELIVERED", "8765432109": "DELIVERED"}


def test_seeded_outcome_mix(receiver: Receiver) -> None:
    mix = {"DELIVERED": 0.5, "FAILED": 0.25, "DLT-CNT-REJECT": 0.25}
    runs = []
    for _ in range(2):
        with Emulator(outcomes=mix, seed=7, callback_url=receiver.url) as emu:
            messages = [
                {"smsFrom": "TFACTR", "smsTo": f"+9198765{i:05d}", "smsText": "x"}
                for i in range(40)
            ]
            body = {"module": "TRANS_SMS", "apikey": emu.api_key, "messages": messages}
            requests.post(f"{emu.url}/API/R1/Bulk/", json=body, timeout=5)
            runs.append([m.outcome for m in emu.messages()])
            emu.wait_for_deliveries(40)
    assert runs[0] == runs[1]
    assert set(Counter(runs[0])) <= set(mix) and len(set(runs[0])) > 1


def test_account_callback_url_wins(twofactor_emulator: Emulator, receiver: Receiver) -> None:
    other = twofactor_emulator.add_account(
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", callback_url=receiver.url + "/mine"
    )
    data = {
        "module": "TRANS_SMS",
        "apikey": other.api_key,
        "to": "919876543210",
        "from": "TFACTR",
        "msg": "x",
    }
    requests.post(f"{twofactor_emulator.url}/API/R1/", data=data, timeout=5)
    assert receiver.wait(1)[0].path == "/mine"


def test_no_callback_url_no_post(twofactor_emulator: Emulator) -> None:
    r1(twofactor_emulator)
    with pytest.raises(TimeoutError):
        twofactor_emulator.wait_for_deliveries(1, timeout=0.2)


def test_scheduled_messages_are_reported_after_their_time(
    reporting: Emulator, receiver: Receiver
) -> None:
    later = (datetime.now(IST) + timedelta(minutes=6)).strftime("%Y-%m-%d %H:%M:%S")
    r1(reporting, scheduletime=later)
    with pytest.raises(TimeoutError):
        reporting.wait_for_deliveries(1, timeout=0.3)
    assert receiver.received == []


def test_failed_posts_are_logged_not_fatal(
    twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twofactor_emulator, "callback_url", "http://127.0.0.1:9/nothing")
    r1(twofactor_emulator)
    attempts = twofactor_emulator.wait_for_deliveries(2)
    assert all(not a.ok and a.error for a in attempts)
    assert requests.get(f"{twofactor_emulator.url}/__emulator__/health", timeout=5).ok


def test_receiver_errors_are_logged(reporting: Emulator, receiver: Receiver) -> None:
    receiver.status = 500
    r1(reporting)
    attempts = reporting.wait_for_deliveries(2)
    assert [a.status for a in attempts] == [500, 500]


def test_click_posts_the_reference_form(twofactor_emulator: Emulator, receiver: Receiver) -> None:
    message_id = r1(
        twofactor_emulator,
        campaignname="PromoCampaign",
        campaignwebhook=receiver.url + "/clicks",
        shortenurlcallback="cb-42",
    )
    payload = twofactor_emulator.trigger_click(message_id, ip="192.168.1.1")
    got = receiver.wait(1)[0]
    assert got.path == "/clicks"
    assert got.content_type == "application/x-www-form-urlencoded"
    form = parse_qs(got.body.decode())
    assert form["phoneNo"] == ["9876543210"]
    assert form["campaignName"] == ["PromoCampaign"] and form["ip"] == ["192.168.1.1"]
    assert form["shortenurlcallback"] == ["cb-42"]
    assert STAMP.fullmatch(form["accessed"][0])
    assert got.body.decode().startswith("accessed=")
    assert payload["phoneNo"] == "9876543210"
    assert twofactor_emulator.wait_for_deliveries(1)[0].kind == "click"


#: The reference's "Example Webhook Payload" of a click, as its "Read More" section writes it.
REFERENCE_CLICK = (
    "accessed=2024-11-29 14:30:00&phoneNo=9876543210&campaignName=PromoCampaign&ip=192.168.1.1"
)


def test_click_body_is_written_as_the_reference_shows_it(
    twofactor_emulator: Emulator, receiver: Receiver
) -> None:
    """Reference: "Example Webhook Payload / accessed=2024-11-29 14:30:00&phoneNo=9876543210
    &campaignName=PromoCampaign&ip=192.168.1.1": the values are readable, not
    percent-encoded (``2024-11-29+14%3A30%3A00``)."""
    r1(twofactor_emulator, campaignname="PromoCampaign", campaignwebhook=receiver.url + "/c")
    twofactor_emulator.trigger_click("9876543210", ip="192.168.1.1")
    body = receiver.wait(1)[0].body.decode("ascii")
    accessed = re.fullmatch(r"accessed=([^&]*)&.*", body)
    assert accessed and STAMP.fullmatch(accessed.group(1))
    # the same bytes as the reference's example once its own timestamp is put in
    assert body == REFERENCE_CLICK.replace("2024-11-29 14:30:00", accessed.group(1))


@pytest.mark.parametrize(
    "campaign",
    ["Diwali & New Year = 50% off", "a+b c", "प्रोमो", "semi;colon/slash?q#f"],
)
def test_click_values_read_back_exactly(
    twofactor_emulator: Emulator, receiver: Receiver, campaign: str
) -> None:
    """Readable does not mean ambiguous: what a form parser would split on or decode
    (``&``, ``=``, ``+``, ``%``, non-ASCII characters) is still encoded, so the
    project's own webhook parser gets back the exact campaign name."""
    r1(twofactor_emulator, campaignname=campaign, campaignwebhook=receiver.url + "/c")
    twofactor_emulator.trigger_click("9876543210")
    got = receiver.wait(1)[0]
    assert got.content_type == "application/x-www-form-urlencoded"
    assert parse_qs(got.body.decode("ascii"))["campaignName"] == [campaign]
    click = parse_click_report(got.body, got.content_type)
    assert (click.campaign_name, click.phone) == (campaign, "+919876543210")


def test_click_by_phone_and_shortenurlwebhook(
    twofactor_emulator: Emulator, receiver: Receiver
) -> None:
    r1(twofactor_emulator, shortenurl="1", shortenurlwebhook=receiver.url + "/short")
    twofactor_emulator.trigger_click("8765432109")
    got = receiver.wait(1)[0]
    assert got.path == "/short" and parse_qs(got.body.decode())["phoneNo"] == ["8765432109"]
    with pytest.raises(LookupError):
        twofactor_emulator.trigger_click("9000000000")


def test_reset_drops_pending_reports(
    reporting: Emulator, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporting, "delivery_delay", 0.3)
    r1(reporting)
    reporting.reset()
    with pytest.raises(TimeoutError):
        reporting.wait_for_deliveries(1, timeout=0.5)
    assert receiver.received == []
