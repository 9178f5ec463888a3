"""Webhooks, framework-free (parsing, token, size, duplicates, on_delivery) and end to end:
the emulator POSTs delivery reports and clicks to a local HTTP receiver."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pytest

from twofactor_notify import (
    BulkMessage,
    ClickReport,
    DeliveryReport,
    DeliveryStatus,
    InMemoryTransport,
    WebhookError,
    WebhookReceiver,
)
from twofactor_notify.validation import IST
from twofactor_notify.webhooks import (
    MAX_WEBHOOK_BYTES,
    TOKEN_HEADER,
    DuplicateFilter,
    check_token,
    parse_click_report,
    parse_delivery_reports,
)

from .conftest import WEBHOOK_TOKEN, RecordingPlugin

REFERENCE_REPORT = {
    "SessionId": "30b3c545-5e1a-482e-9fac-1a76e805020d-1",
    "SmsFrom": "TFACTR",
    "SmsTo": "9876543210",
    "SmsStatus": "DELIVERED",
    "SentAt": "2025-11-24 19:43:06",
    "StatusAt": "2025-11-24 19:43:08",
    "callback_value1": "order_98765",
    "callback_value2": "cust_1122",
}
REFERENCE_CLICK = (
    b"accessed=2024-11-29 14:30:00&phoneNo=9876543210&campaignName=PromoCampaign&ip=192.168.1.1"
)


def _expected() -> DeliveryReport:
    return DeliveryReport(
        message_id="30b3c545-5e1a-482e-9fac-1a76e805020d-1",
        status=DeliveryStatus.DELIVERED,
        to="+919876543210",
        sender="TFACTR",
        sent_at=datetime(2025, 11, 24, 19, 43, 6, tzinfo=IST),
        status_at=datetime(2025, 11, 24, 19, 43, 8, tzinfo=IST),
        callback_value1="order_98765",
        callback_value2="cust_1122",
        raw_status="DELIVERED",
    )


def test_parse_json_object():
    (report,) = parse_delivery_reports(json.dumps(REFERENCE_REPORT).encode(), "application/json")
    assert report == _expected()
    assert report.status.delivered and report.status.final


def test_parse_json_list_without_content_type():
    second = dict(REFERENCE_REPORT, SessionId="x-2", SmsStatus="DLT-CNT-REJECT", callback_value2="")
    reports = parse_delivery_reports(json.dumps([REFERENCE_REPORT, second]).encode(), None)
    assert [r.message_id for r in reports] == [REFERENCE_REPORT["SessionId"], "x-2"]
    assert reports[1].status is DeliveryStatus.DLT_CNT_REJECT
    assert reports[1].callback_value2 is None


def test_parse_raw_url_encoded():
    from urllib.parse import urlencode

    body = urlencode(REFERENCE_REPORT).encode()
    (report,) = parse_delivery_reports(body, "application/x-www-form-urlencoded")
    assert report == _expected()
    (again,) = parse_delivery_reports(body, None)  # recognised without a content type too
    assert again == report


def test_unknown_status_is_kept():
    body = json.dumps(dict(REFERENCE_REPORT, SmsStatus="NDNC_BLOCKED")).encode()
    (report,) = parse_delivery_reports(body, "application/json")
    assert report.status is DeliveryStatus.OTHER and report.raw_status == "NDNC_BLOCKED"
    assert not report.status.final


def test_parse_click_reference_form():
    click = parse_click_report(REFERENCE_CLICK, "application/x-www-form-urlencoded")
    assert click == ClickReport(
        phone="+919876543210",
        campaign_name="PromoCampaign",
        accessed_at=datetime(2024, 11, 29, 14, 30, tzinfo=IST),
        ip="192.168.1.1",
    )
    as_json = json.dumps(
        {
            "accessed": "2024-11-29 14:30:00",
            "phoneNo": "9876543210",
            "campaignName": "PromoCampaign",
            "ip": "192.168.1.1",
        }
    ).encode()
    assert parse_click_report(as_json, "application/json") == click


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{not json",
        b"[]",
        b"[1, 2]",
        b'"just a string"',
        json.dumps({"SmsStatus": "DELIVERED"}).encode(),  # no SessionId
        json.dumps({"SessionId": "x"}).encode(),  # no SmsStatus
        json.dumps(dict(REFERENCE_REPORT, SentAt="yesterday")).encode(),
        json.dumps(dict(REFERENCE_REPORT, SmsTo={"n": 1})).encode(),
        json.dumps(dict(REFERENCE_REPORT, SessionId="x" * 300)).encode(),
        json.dumps([{"SessionId": "x", "SmsStatus": "SENT"}] * 501).encode(),  # too many
        b"\xff\xfe\x00garbage",
        b"a=1&&&b",
        json.dumps(dict(REFERENCE_REPORT, SessionId="abc\x00def")).encode(),  # NUL byte
        json.dumps(dict(REFERENCE_REPORT, StatusAt="0001-01-01 00:00:00")).encode(),
        json.dumps(dict(REFERENCE_REPORT, SentAt="9999-12-31 23:59:59")).encode(),
        b"[" * 20_000 + b"]" * 20_000,  # nesting that would overflow the parser's stack
    ],
)
def test_malformed_delivery_bodies_are_400(body):
    with pytest.raises(WebhookError) as caught:
        parse_delivery_reports(body, None)
    assert caught.value.http_status == 400


def test_oversize_is_413():
    body = b"[" + b" " * MAX_WEBHOOK_BYTES + b"]"
    with pytest.raises(WebhookError) as caught:
        parse_delivery_reports(body, "application/json")
    assert caught.value.http_status == 413
    with pytest.raises(WebhookError) as caught:
        parse_click_report(b"a=" + b"x" * MAX_WEBHOOK_BYTES, None)
    assert caught.value.http_status == 413


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, WEBHOOK_TOKEN),
        ("", WEBHOOK_TOKEN),
        ("wrong", WEBHOOK_TOKEN),
        (WEBHOOK_TOKEN + "x", WEBHOOK_TOKEN),
        (WEBHOOK_TOKEN, None),
        (WEBHOOK_TOKEN, ""),
    ],
)
def test_bad_token_is_403(given, expected):
    with pytest.raises(WebhookError) as caught:
        check_token(given, expected)
    assert caught.value.http_status == 403
    assert WEBHOOK_TOKEN not in str(caught.value)


def test_receiver_checks_token_dedupes_and_fires_on_delivery():
    plugin = RecordingPlugin()
    receiver = WebhookReceiver(
        InMemoryTransport(plugins=[plugin], load_entrypoints=False), WEBHOOK_TOKEN
    )
    body = json.dumps(REFERENCE_REPORT).encode()
    assert receiver.token_from({"token": WEBHOOK_TOKEN}, {}) is None  # query form: opt-in
    assert receiver.token_from({}, {TOKEN_HEADER: WEBHOOK_TOKEN}) == WEBHOOK_TOKEN
    with pytest.raises(WebhookError) as caught:
        receiver.receive_delivery(body, "application/json", "nope")
    assert caught.value.http_status == 403
    assert plugin.reports == []
    assert receiver.receive_delivery(body, "application/json", WEBHOOK_TOKEN) == [_expected()]
    assert receiver.receive_delivery(body, "application/json", WEBHOOK_TOKEN) == []  # duplicate
    later = dict(REFERENCE_REPORT, SmsStatus="UNDELIVERED")  # a new status is a new report
    assert (
        len(
            receiver.receive_delivery(
                json.dumps([REFERENCE_REPORT, later]).encode(), "application/json", WEBHOOK_TOKEN
            )
        )
        == 1
    )
    assert [r.status for r in plugin.reports] == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
    ]
    click = receiver.receive_click(REFERENCE_CLICK, None, WEBHOOK_TOKEN)
    assert click is not None and plugin.reports[-1] == click
    assert receiver.receive_click(REFERENCE_CLICK, None, WEBHOOK_TOKEN) is None
    with pytest.raises(WebhookError):
        receiver.receive_click(REFERENCE_CLICK, None, None)
    assert WEBHOOK_TOKEN not in repr(receiver)


def test_receiver_without_dedupe_and_bounded_filter():
    plugin = RecordingPlugin()
    filt = DuplicateFilter(size=2)
    receiver = WebhookReceiver(
        InMemoryTransport(plugins=[plugin], load_entrypoints=False), WEBHOOK_TOKEN, duplicates=filt
    )
    for n in range(3):
        receiver.receive_delivery(
            json.dumps(dict(REFERENCE_REPORT, SessionId=f"s{n}")).encode(), None, WEBHOOK_TOKEN
        )
    # "s0" fell out of a filter of size 2: it is accepted again
    receiver.receive_delivery(
        json.dumps(dict(REFERENCE_REPORT, SessionId="s0")).encode(), None, WEBHOOK_TOKEN
    )
    assert len(plugin.reports) == 4


# --------------------------------------------------------------------------- end to end


def test_emulator_reports_an_r1_send_to_the_receiver(emulator, client, webhook_server):
    emulator.callback_url = f"{webhook_server.url}/delivery?token={WEBHOOK_TOKEN}"
    emulator.set_outcome("9123456780", "UNDELIVERED")
    sent = client.send_sms(["9876543210", "9123456780"], "hello", sender="TFACTR")
    reports = webhook_server.wait_for_reports(2)
    assert sorted((r.to, r.status) for r in reports) == [
        ("+919123456780", DeliveryStatus.UNDELIVERED),
        ("+919876543210", DeliveryStatus.DELIVERED),
    ]
    assert {r.message_id for r in reports} == {sent.message_id}
    assert all(r.sender == "TFACTR" and r.sent_at is not None for r in reports)
    attempts = emulator.wait_for_deliveries(2)
    assert all(a.ok and a.content_type == "application/json" for a in attempts)
    assert webhook_server.answers == [200, 200]


def test_emulator_reports_a_bulk_send_raw_url_encoded(emulator, client, webhook_server):
    emulator.callback_url = f"{webhook_server.url}/delivery?token={WEBHOOK_TOKEN}"
    result = client.send_bulk(
        [
            BulkMessage(
                to="9876543210",
                text="a",
                sender="TFACTR",
                callback_value1="order_1",
                callback_value2="cust_1",
                callback_format="raw-url-encoded",
            ),
            BulkMessage(
                to="9123456780",
                text="b",
                sender="TFACTR",
                callback_value1="order_2",
                callback_format="raw-url-encoded",
            ),
        ]
    )
    reports = webhook_server.wait_for_reports(2)
    by_id = {r.message_id: r for r in reports}
    assert set(by_id) == {a.message_id for a in result.accepted}
    first = by_id[result.accepted[0].message_id]
    assert (first.callback_value1, first.callback_value2) == ("order_1", "cust_1")
    assert by_id[result.accepted[1].message_id].callback_value2 is None
    attempts = emulator.wait_for_deliveries(2)
    assert {a.content_type for a in attempts} == {"application/x-www-form-urlencoded"}


def test_emulator_callback_with_a_wrong_token_is_refused(emulator, client, webhook_server):
    emulator.callback_url = f"{webhook_server.url}/delivery?token=guess"
    client.send_sms("9876543210", "hello", sender="TFACTR")
    (attempt,) = emulator.wait_for_deliveries(1)
    assert attempt.status == 403
    assert webhook_server.plugin.reports == []


def test_emulator_click_reaches_the_receiver(emulator, client, webhook_server):
    sent = client.send_sms(
        "9876543210",
        "See https://example.com/x",
        sender="TFACTR",
        campaign_name="Diwali",
        campaign_webhook=f"{webhook_server.url}/click?token={WEBHOOK_TOKEN}",
    )
    payload = emulator.trigger_click(sent.message_id, ip="203.0.113.9")
    assert payload["campaignName"] == "Diwali"
    (click,) = webhook_server.wait_for_reports(1)
    assert isinstance(click, ClickReport)
    assert (click.phone, click.campaign_name, click.ip) == (
        "+919876543210",
        "Diwali",
        "203.0.113.9",
    )


class _RecordingRaw(io.RawIOBase):
    """A raw input stream that records what each buffer held when it was handed over."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.handed: list[bytes] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.handed.append(bytes(buffer))
        count = min(len(buffer), len(self.body))
        buffer[:count] = self.body[:count]
        self.body = self.body[count:]
        return count


def test_a_stream_is_given_a_buffer_that_holds_nothing_before_the_body() -> None:
    """``read(n)`` of a raw stream hands ``readinto`` memory it did not clear: a frame below
    would hold what that memory held before (here a secret, freed just before), for an error
    reporter to show if the read failed."""
    from twofactor_notify.webhooks import MAX_WEBHOOK_BYTES, read_limited

    for _ in range(20):
        stale = bytearray(b"SECRET-" * (MAX_WEBHOOK_BYTES // 7 + 1))[: MAX_WEBHOOK_BYTES + 1]
        del stale  # freed: the next buffer of its size may be this memory
        stream = _RecordingRaw(b'{"ok": 1}')
        assert read_limited(stream) == b'{"ok": 1}'
        assert stream.handed and not any(any(buffer) for buffer in stream.handed)
