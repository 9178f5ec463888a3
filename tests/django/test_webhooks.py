"""Delivery and click webhooks: through Django's test client, and end to end from the
emulator to a live server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from django_twofactor import send_mass_sms, send_otp, send_sms
from django_twofactor.models import ClickReport, DeliveryReport, MessageStatus, OutgoingMessage
from django_twofactor.signals import click_received, delivery_report_received
from twofactor_notify import hookimpl
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import BulkResult, DeliveryStatus
from twofactor_notify.webhooks import MAX_WEBHOOK_BYTES

from .conftest import OTHER_PHONE, PHONE, WEBHOOK_TOKEN, base_settings, emulator_settings

pytestmark = pytest.mark.django_db

DELIVERY = "/twofactor/delivery/"
CLICK = "/twofactor/click/"


def report(**changes: str) -> dict[str, str]:
    data = {
        "SessionId": "msg-0001",
        "SmsFrom": "TFACTR",
        "SmsTo": "9876543210",
        "SmsStatus": "DELIVERED",
        "SentAt": "2025-01-01 10:00:00",
        "StatusAt": "2025-01-01 10:00:05",
        "callback_value1": "order_1",
        "callback_value2": "",
    }
    data.update(changes)
    return data


def post_json(client: Client, body: Any, token: str | None = WEBHOOK_TOKEN, **extra: Any) -> Any:
    url = DELIVERY + (f"?token={token}" if token else "")
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


class Capture:
    """Receives the Django signal and the core hook."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []
        self.hooks: list[Any] = []

    def receiver(self, sender: Any, **kwargs: Any) -> None:
        self.signals.append(kwargs)

    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        self.hooks.append(report)


class RaisingPlugin:
    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        raise RuntimeError("plugin broke")


capture = Capture()
raising_plugin = RaisingPlugin()


@pytest.fixture
def captured(settings: Any) -> Iterator[Capture]:
    settings.TWOFACTOR_NOTIFY = base_settings(PLUGINS=[f"{__name__}.capture"])
    capture.signals.clear()
    capture.hooks.clear()
    delivery_report_received.connect(capture.receiver)
    click_received.connect(capture.receiver)
    yield capture
    delivery_report_received.disconnect(capture.receiver)
    click_received.disconnect(capture.receiver)


def test_json_report_is_stored_hooked_and_signalled(client: Client, captured: Capture) -> None:
    OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-0001")
    answer = post_json(client, report())
    assert answer.status_code == 200
    assert answer.json() == {"received": 1, "stored": 1, "duplicates": 0}
    row = DeliveryReport.objects.get()
    assert (row.message_id, row.recipient, row.status, row.callback_value1) == (
        "msg-0001",
        PHONE,
        "DELIVERED",
        "order_1",
    )
    assert OutgoingMessage.objects.get().status == MessageStatus.DELIVERED
    (hooked,) = captured.hooks
    assert hooked.status is DeliveryStatus.DELIVERED and hooked.to == PHONE
    (signalled,) = captured.signals
    assert signalled["record"] == row and signalled["report"] == hooked


def test_json_list_and_url_encoded_reports(client: Client) -> None:
    answer = post_json(client, [report(SessionId="a"), report(SessionId="b", SmsStatus="FAILED")])
    assert answer.json()["stored"] == 2
    answer = client.post(
        f"{DELIVERY}?token={WEBHOOK_TOKEN}",
        data=urlencode(report(SessionId="c", SmsStatus="UNDELIVERED")),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert dict(DeliveryReport.objects.values_list("message_id", "status")) == {
        "a": "DELIVERED",
        "b": "FAILED",
        "c": "UNDELIVERED",
    }


def test_token_in_header(client: Client) -> None:
    answer = post_json(client, report(), token=None, HTTP_X_TWOFACTOR_TOKEN=WEBHOOK_TOKEN)
    assert answer.status_code == 200


@pytest.mark.parametrize("token", [None, "wrong-token", WEBHOOK_TOKEN + "x"])
def test_bad_or_missing_token_is_403(client: Client, token: str | None) -> None:
    answer = post_json(client, report(), token=token)
    assert answer.status_code == 403
    assert WEBHOOK_TOKEN not in answer.content.decode()
    assert not DeliveryReport.objects.exists()


def test_unset_token_refuses_everything(client: Client, settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(WEBHOOK_TOKEN=None)
    assert post_json(client, report()).status_code == 403


def test_get_is_405(client: Client) -> None:
    assert client.get(f"{DELIVERY}?token={WEBHOOK_TOKEN}").status_code == 405
    assert client.get(f"{CLICK}?token={WEBHOOK_TOKEN}").status_code == 405


def test_oversize_body_is_413(client: Client) -> None:
    big = [report(SessionId=f"id-{i}", callback_value1="x" * 200) for i in range(400)]
    body = json.dumps(big)
    assert len(body) > MAX_WEBHOOK_BYTES
    answer = post_json(client, big)
    assert answer.status_code == 413
    assert not DeliveryReport.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (json.dumps({"SmsStatus": "DELIVERED"}).encode(), "application/json"),  # no SessionId
        (json.dumps([1, 2]).encode(), "application/json"),
        (json.dumps(report(SentAt="yesterday")).encode(), "application/json"),
        (b"\xff\xfe=&&", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_body_is_400(client: Client, body: bytes, content_type: str) -> None:
    answer = client.post(f"{DELIVERY}?token={WEBHOOK_TOKEN}", data=body, content_type=content_type)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert not DeliveryReport.objects.exists()


def test_duplicate_report_is_stored_once(client: Client, captured: Capture) -> None:
    assert post_json(client, report()).json()["stored"] == 1
    again = post_json(client, [report(), report()])
    assert again.status_code == 200
    assert again.json() == {"received": 2, "stored": 0, "duplicates": 2}
    assert DeliveryReport.objects.count() == 1
    assert len(captured.hooks) == 1 and len(captured.signals) == 1


def test_raising_hook_and_receiver_do_not_lose_the_report(client: Client, settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(PLUGINS=[f"{__name__}.raising_plugin"])

    def broken_receiver(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver broke")

    delivery_report_received.connect(broken_receiver)
    try:
        answer = post_json(client, report())
    finally:
        delivery_report_received.disconnect(broken_receiver)
    assert answer.status_code == 200
    assert DeliveryReport.objects.count() == 1


def test_final_status_is_not_overwritten_by_a_late_pending_one(client: Client) -> None:
    OutgoingMessage.objects.create(recipient=PHONE, kind="sms", provider_id="msg-0001")
    post_json(client, report(SmsStatus="DELIVERED"))
    post_json(client, report(SmsStatus="SENT"))
    assert OutgoingMessage.objects.get().status == MessageStatus.DELIVERED


def test_report_matches_the_recipient_of_a_multi_number_send(client: Client) -> None:
    for phone in (PHONE, OTHER_PHONE):
        OutgoingMessage.objects.create(recipient=phone, kind="sms", provider_id="msg-0001")
    post_json(client, report(SmsTo="9812345678", SmsStatus="FAILED"))
    assert dict(OutgoingMessage.objects.values_list("recipient", "status")) == {
        PHONE: MessageStatus.QUEUED,
        OTHER_PHONE: MessageStatus.FAILED,
    }


def test_click_report_form_encoded_and_duplicate(client: Client, captured: Capture) -> None:
    body = urlencode(
        {
            "accessed": "2025-01-01 10:00:00",
            "phoneNo": "9876543210",
            "campaignName": "diwali",
            "ip": "203.0.113.7",
        }
    )
    url = f"{CLICK}?token={WEBHOOK_TOKEN}"
    form = "application/x-www-form-urlencoded"
    assert client.post(url, data=body, content_type=form).json()["stored"] == 1
    assert client.post(url, data=body, content_type=form).json()["duplicates"] == 1
    row = ClickReport.objects.get()
    assert (row.phone, row.campaign_name, row.ip) == (PHONE, "diwali", "203.0.113.7")
    assert len(captured.signals) == 1 and captured.signals[0]["record"] == row
    assert client.post(CLICK, data=body, content_type=form).status_code == 403


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_emulator_delivery_reports_reach_the_live_server(
    live_server: Any, settings: Any, emulator_callbacks: Emulator
) -> None:
    emulator = emulator_callbacks
    settings.TWOFACTOR_NOTIFY = emulator_settings(emulator)
    emulator.callback_url = f"{live_server.url}{DELIVERY}?token={WEBHOOK_TOKEN}"
    emulator.set_outcome(OTHER_PHONE, "UNDELIVERED")

    sms = send_sms([PHONE, OTHER_PHONE], "Your order shipped")
    bulk = send_mass_sms([(PHONE, "bulk one")], callback_format="raw-url-encoded")
    assert sms is not None and bulk.ok

    attempts = emulator.wait_for_deliveries(3, timeout=10)
    assert all(a.ok for a in attempts), [(a.status, a.error) for a in attempts]
    assert {a.content_type for a in attempts} == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    wait_for(lambda: DeliveryReport.objects.count() == 3)
    statuses = {(row.kind, row.recipient): row.status for row in OutgoingMessage.objects.all()}
    assert statuses == {
        ("sms", PHONE): MessageStatus.DELIVERED,
        ("sms", OTHER_PHONE): MessageStatus.UNDELIVERED,
        ("bulk", PHONE): MessageStatus.DELIVERED,
    }


class ReportRacesAhead:
    """An ``after_send`` plugin that runs before the message log's and posts the delivery
    report of each recipient to the webhook: 2Factor's report beating the send's log rows."""

    def __init__(self) -> None:
        self.client = Client()
        self.posted = 0

    @hookimpl(tryfirst=True)
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        if error is not None:
            return
        if isinstance(receipt, BulkResult):
            sent = [(item.message_id, item.to) for item in receipt.accepted]
        else:
            provider_id = getattr(receipt, "message_id", None) or receipt.session_id
            sent = [(provider_id, to) for to in message.recipients]
        for provider_id, to in sent:
            body = report(SessionId=provider_id, SmsTo=to.lstrip("+")[-10:], SmsStatus="FAILED")
            assert post_json(self.client, body).status_code == 200
            self.posted += 1


@pytest.mark.parametrize(
    "send",
    [
        lambda: send_otp(PHONE),
        lambda: send_sms([PHONE, OTHER_PHONE], "Your order shipped"),
        lambda: send_mass_sms([(PHONE, "bulk one"), (OTHER_PHONE, "bulk two")]),
    ],
    ids=["otp", "sms", "bulk"],
)
def test_a_report_that_beats_the_log_rows_still_moves_them(
    settings: Any, twofactor_emulator: Emulator, send: Any
) -> None:
    racer = ReportRacesAhead()
    settings.TWOFACTOR_NOTIFY = emulator_settings(twofactor_emulator, PLUGINS=[racer])
    send()
    assert racer.posted == OutgoingMessage.objects.count() > 0
    assert DeliveryReport.objects.count() == racer.posted
    assert set(OutgoingMessage.objects.values_list("status", flat=True)) == {MessageStatus.FAILED}
