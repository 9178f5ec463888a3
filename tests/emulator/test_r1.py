"""R1 (``/API/R1/``): sends, the documented optional fields, and the error strings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from twofactor_notify.emulator import Emulator
from twofactor_notify.validation import IST


def form(emu: Emulator, **overrides: str) -> dict[str, str]:
    data = {
        "module": "TRANS_SMS",
        "apikey": emu.api_key,
        "to": "919876543210",
        "from": "TFACTR",
        "msg": "Your order has shipped",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(emu: Emulator, **overrides: Any) -> requests.Response:
    return requests.post(f"{emu.url}/API/R1/", data=form(emu, **overrides), timeout=5)


def ist(delta: timedelta) -> str:
    return (datetime.now(IST) + delta).strftime("%Y-%m-%d %H:%M:%S")


def test_one_id_for_every_recipient(twofactor_emulator: Emulator) -> None:
    answer = post(twofactor_emulator, to="919876543210,918765432109")
    message_id = answer.json()["Details"]
    records = twofactor_emulator.messages()
    assert [r.to for r in records] == ["+919876543210", "+918765432109"]
    assert {r.id for r in records} == {message_id}
    assert records[0].kind == "transactional"


def test_get_with_query_string_and_no_trailing_slash(twofactor_emulator: Emulator) -> None:
    params = form(twofactor_emulator, module="PROMO_SMS", peid="1101", ctid="1107")
    answer = requests.get(f"{twofactor_emulator.url}/API/R1", params=params, timeout=5)
    assert answer.status_code == 200
    record = twofactor_emulator.messages("9876543210")[-1]
    assert (record.kind, record.pe_id, record.ct_id) == ("promotional", "1101", "1107")


def test_optional_fields_are_recorded(twofactor_emulator: Emulator) -> None:
    post(
        twofactor_emulator,
        campaignname="Promo",
        campaignwebhook="https://example.com/clicks",
        shortenurl="1",
        shortenurlwebhook="https://example.com/short",
        shortenurlcallback="cb-1",
    )
    record = twofactor_emulator.messages()[-1]
    assert record.campaign_name == "Promo" and record.shorten_url
    assert record.campaign_webhook == "https://example.com/clicks"
    assert record.shorten_url_callback == "cb-1"


def test_scheduled_message_is_held(twofactor_emulator: Emulator) -> None:
    assert post(twofactor_emulator, scheduletime=ist(timedelta(minutes=10))).status_code == 200
    record = twofactor_emulator.messages()[-1]
    assert record.scheduled_for is not None and record.status() == "PENDING"


@pytest.mark.parametrize(
    ("overrides", "details"),
    [
        ({"module": "SMS"}, "Invalid Module - Expected TRANS_SMS or PROMO_SMS"),
        ({"apikey": None}, "Missing Parameter - apikey"),
        ({"apikey": "wrong"}, "Invalid API Key"),
        ({"to": ""}, "Missing Parameter - to"),
        ({"to": "9876543210"}, "Invalid Phone Number - 9876543210 (Expected: 91XXXXXXXXXX)"),
        ({"to": "+919876543210"}, "Invalid Phone Number - +919876543210 (Expected: 91XXXXXXXXXX)"),
        ({"to": "919876543210,91123"}, "Invalid Phone Number - 91123 (Expected: 91XXXXXXXXXX)"),
        ({"from": None}, "Missing Parameter - from"),
        ({"from": "TOOLONGID"}, "Invalid Sender Id - Expected 1 to 6 letters or digits"),
        ({"msg": " "}, "Missing Parameter - msg"),
        ({"msg": "x" * 1001}, "Message Too Long - 1001 characters (Maximum: 1000)"),
        (
            {"scheduletime": "2030-01-01T10:00:00"},
            "Invalid Schedule Time - Expected YYYY-MM-DD HH:MM:SS (IST)",
        ),
        (
            {"scheduletime": ist(timedelta(minutes=4))},
            "Invalid Schedule Time - Must be at least 5 minutes after the current time",
        ),
        ({"peid": "DLT Registration Number"}, "Invalid peid - Expected the DLT id's digits"),
        ({"ctid": "12ab"}, "Invalid ctid - Expected the DLT id's digits"),
        (
            {"campaignwebhook": "not a url"},
            "Invalid campaignwebhook - Expected an absolute http(s) URL",
        ),
        ({"shortenurl": "yes"}, "Invalid shortenurl - Expected 1 or 0"),
    ],
)
def test_errors(twofactor_emulator: Emulator, overrides: dict[str, Any], details: str) -> None:
    answer = post(twofactor_emulator, **overrides)
    assert (answer.status_code, answer.json()) == (400, {"Status": "Error", "Details": details})
    assert twofactor_emulator.messages() == []


def test_exactly_1000_characters_is_fine(twofactor_emulator: Emulator) -> None:
    assert post(twofactor_emulator, msg="x" * 1000).status_code == 200


def test_other_methods_are_refused(twofactor_emulator: Emulator) -> None:
    answer = requests.put(f"{twofactor_emulator.url}/API/R1/", timeout=5)
    assert answer.status_code == 405
