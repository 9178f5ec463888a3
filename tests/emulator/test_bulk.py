"""Bulk (``/API/R1/Bulk/``): the success body, per-message rejections, request errors."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from twofactor_notify.emulator import Emulator

DIGITS_REASON = "Phone number should only contain digits (with optional leading + sign)"
FORMAT_REASON = "Phone number must match the required format"


def message(to: str, text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"smsFrom": "TFACTR", "smsTo": to, "smsText": text, **extra}


def send(emu: Emulator, messages: Any, **overrides: Any) -> requests.Response:
    body = {"module": "TRANS_SMS", "apikey": emu.api_key, "messages": messages, **overrides}
    return requests.post(f"{emu.url}/API/R1/Bulk/", json=body, timeout=5)


def test_reference_rejections_and_accepted_ids(twofactor_emulator: Emulator) -> None:
    """The reference's example: indexes 0, 2, 4 rejected, the others accepted.

    Reference, "Example Successful Response": "API Response prints requests which are
    successfully accepted, as well as requests which have been rejected", with
    ``"messageId": "f4bda732-XXXX-XXXX-XXXX-518b4ea82708-1"`` and ``...-2`` beside
    ``rejectedSamples`` indexes 0, 2 and 4: message ids count the *accepted* messages.
    """
    answer = send(
        twofactor_emulator,
        [
            message("+91abcg"),
            message("+919876543210"),
            message("+911"),
            message("+918765432109"),
            message("+911"),
        ],
    )
    body = answer.json()
    assert answer.status_code == 200 and body["success"] is True
    assert body["messageCount"] == 2
    assert body["rejectedSamples"] == [
        {"index": 0, "phone": "+91abcg", "reason": DIGITS_REASON},
        {"index": 2, "phone": "+911", "reason": FORMAT_REASON},
        {"index": 4, "phone": "+911", "reason": FORMAT_REASON},
    ]
    request_id = body["requestId"]
    assert [m["messageId"] for m in body["messages"]] == [f"{request_id}-1", f"{request_id}-2"]
    assert [m["smsTo"] for m in body["messages"]] == ["+919876543210", "+918765432109"]
    assert body["queueStats"] == {
        "success": True,
        "totalChunks": 1,
        "successfulChunks": 1,
        "failedChunks": 0,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    records = twofactor_emulator.messages()
    assert [(r.id, r.to) for r in records] == [
        (f"{request_id}-1", "+919876543210"),
        (f"{request_id}-2", "+918765432109"),
    ]


def test_other_per_message_rejections(twofactor_emulator: Emulator) -> None:
    answer = send(
        twofactor_emulator,
        [
            message("9876543210"),
            message("+919876543210", text="x" * 1001),
            {"smsTo": "+919876543210", "smsText": "no sender"},
            message("+919876543210", text=""),
            message("+919876543210", callback_format="xml"),
            "not an object",
            message("919876543210", text="x" * 1000),
        ],
    )
    reasons = [(r["index"], r["reason"]) for r in answer.json()["rejectedSamples"]]
    assert reasons == [
        (0, FORMAT_REASON),
        (1, "smsText must not exceed 1000 characters"),
        (2, "smsFrom is required"),
        (3, "smsText is required"),
        (4, 'callback_format must be "json" or "raw-url-encoded"'),
        (5, "Message must be a JSON object"),
    ]
    assert answer.json()["messageCount"] == 1


def test_records_carry_callback_values(twofactor_emulator: Emulator) -> None:
    send(
        twofactor_emulator,
        [message("+919876543210", callback_value1="order_1", callback_value2="cust_2")],
    )
    record = twofactor_emulator.messages("9876543210")[0]
    assert (record.kind, record.callback_value1, record.callback_value2) == (
        "bulk",
        "order_1",
        "cust_2",
    )


def test_thousand_messages_in_one_request(twofactor_emulator: Emulator) -> None:
    messages = [message(f"+9198765{i:05d}") for i in range(1000)]
    body = send(twofactor_emulator, messages).json()
    assert body["messageCount"] == 1000
    assert body["queueStats"]["totalChunks"] == 10
    assert len(twofactor_emulator.messages()) == 1000


def _validation_error(answer: requests.Response) -> list[dict[str, str]]:
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert (body["error"], body["errorType"]) == ("Validation failed", "ValidationError")
    assert body["requestId"] and body["timestamp"]
    details: list[dict[str, str]] = body["details"]
    return details


def test_invalid_key_body(twofactor_emulator: Emulator) -> None:
    details = _validation_error(send(twofactor_emulator, [message("+919876543210")], apikey="x"))
    assert details == [
        {"field": "apikey", "error": "Invalid API Key Or TRANSACTIONAL_SMS Service Is Inactive"}
    ]


def test_unparsable_json_body(twofactor_emulator: Emulator) -> None:
    answer = requests.post(
        f"{twofactor_emulator.url}/API/R1/Bulk/",
        data='{"module": "TRANS_SMS", "messages": [1 2]}',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    details = _validation_error(answer)
    assert details[0]["error"] == "Failed to parse request body as JSON"
    assert details[0]["details"]


def test_message_count_limits(twofactor_emulator: Emulator) -> None:
    too_many = [message("+919876543210")] * 1001
    assert _validation_error(send(twofactor_emulator, too_many)) == [
        {"field": "messages", "error": "messages must not contain more than 1000 messages"}
    ]
    assert _validation_error(send(twofactor_emulator, [])) == [
        {"field": "messages", "error": "messages must contain at least 1 message"}
    ]
    assert twofactor_emulator.messages() == []


def test_module_must_be_trans_sms(twofactor_emulator: Emulator) -> None:
    details = _validation_error(send(twofactor_emulator, [message("+919876543210")], module="X"))
    assert details == [{"field": "module", "error": 'module must be "TRANS_SMS"'}]


def test_body_must_be_an_object(twofactor_emulator: Emulator) -> None:
    answer = requests.post(
        f"{twofactor_emulator.url}/API/R1/Bulk",
        data=json.dumps([1]),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert _validation_error(answer) == [{"error": "Request body must be a JSON object"}]
