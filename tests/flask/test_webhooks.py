"""The webhook blueprint: token, formats, limits, duplicates, and the emulator end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask

from flask_twofactor import TwoFactor
from flask_twofactor.signals import click_received, delivery_received
from flask_twofactor.testing import LiveServer
from twofactor_notify import hookimpl
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import BulkMessage, ClickReport, DeliveryReport, DeliveryStatus
from twofactor_notify.webhooks import MAX_WEBHOOK_BYTES, TOKEN_HEADER

from .conftest import E164, PHONE, WEBHOOK_TOKEN, AppFactory

REPORT = {
    "SessionId": "b7a3f0d2-1111-2222-3333-444455556666",
    "SmsFrom": "TFACTR",
    "SmsTo": PHONE,
    "SmsStatus": "DELIVERED",
    "SentAt": "2024-05-01 10:00:00",
    "StatusAt": "2024-05-01 10:00:05",
    "callback_value1": "order-42",
    "callback_value2": "",
}
DELIVERY = f"/twofactor/delivery/?token={WEBHOOK_TOKEN}"


class DeliveryPlugin:
    """A core plugin collecting on_delivery reports."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport | ClickReport] = []

    @hookimpl
    def on_delivery(self, report: DeliveryReport | ClickReport, transport: Any) -> None:
        self.reports.append(report)


@pytest.fixture
def plugin() -> DeliveryPlugin:
    return DeliveryPlugin()


@pytest.fixture
def hook_app(make_app: AppFactory, plugin: DeliveryPlugin) -> Flask:
    return make_app(TWOFACTOR_PLUGINS=[plugin])


@pytest.fixture
def received(hook_app: Flask) -> Iterator[list[Any]]:
    """Reports and clicks signalled by ``hook_app``."""
    out: list[Any] = []

    def record(sender: Flask, report: Any) -> None:
        out.append(report)

    with (
        delivery_received.connected_to(record, sender=hook_app),
        click_received.connected_to(record, sender=hook_app),
    ):
        yield out


def test_json_report(hook_app: Flask, plugin: DeliveryPlugin, received: list[Any]):
    answer = hook_app.test_client().post(DELIVERY, json=REPORT)
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True, "received": 1}
    (report,) = plugin.reports
    assert isinstance(report, DeliveryReport)
    assert report.message_id == REPORT["SessionId"]
    assert report.status is DeliveryStatus.DELIVERED
    assert report.to == E164 and report.callback_value1 == "order-42"
    assert received == [report]


def test_url_encoded_report_with_header_token(hook_app: Flask, plugin: DeliveryPlugin):
    answer = hook_app.test_client().post(
        "/twofactor/delivery",  # no trailing slash: no redirect either
        data=urlencode({**REPORT, "SmsStatus": "UNDELIVERED"}),
        content_type="application/x-www-form-urlencoded",
        headers={TOKEN_HEADER: WEBHOOK_TOKEN},
    )
    assert answer.status_code == 200, answer.get_json()
    assert [r.status for r in plugin.reports] == [DeliveryStatus.UNDELIVERED]  # type: ignore[union-attr]


def test_header_token_is_preferred_over_the_query(hook_app: Flask, plugin: DeliveryPlugin):
    client = hook_app.test_client()
    stale_url = "/twofactor/delivery/?token=an-old-token-left-in-the-url"
    answer = client.post(stale_url, json=REPORT, headers={TOKEN_HEADER: WEBHOOK_TOKEN})
    assert answer.status_code == 200, answer.get_json()
    assert client.post(stale_url, json=REPORT).status_code == 403
    assert len(plugin.reports) == 1


def test_json_list_and_duplicates_handled_once(hook_app: Flask, plugin: DeliveryPlugin):
    client = hook_app.test_client()
    other = {**REPORT, "SessionId": "another-id", "SmsStatus": "FAILED"}
    assert client.post(DELIVERY, json=[REPORT, other]).get_json() == {"ok": True, "received": 2}
    again = client.post(DELIVERY, json=REPORT)
    assert again.status_code == 200 and again.get_json() == {"ok": True, "received": 0}
    assert [r.message_id for r in plugin.reports] == [  # type: ignore[union-attr]
        REPORT["SessionId"],
        "another-id",
    ]


def test_click(hook_app: Flask, received: list[Any]):
    body = urlencode(
        {
            "accessed": "2024-05-01 11:00:00",
            "phoneNo": PHONE,
            "campaignName": "sale",
            "ip": "1.2.3.4",
        }
    )
    client = hook_app.test_client()
    url = f"/twofactor/click/?token={WEBHOOK_TOKEN}"
    ctype = "application/x-www-form-urlencoded"
    assert client.post(url, data=body, content_type=ctype).get_json() == {"ok": True, "received": 1}
    assert client.post(url, data=body, content_type=ctype).get_json() == {"ok": True, "received": 0}
    (click,) = received
    assert isinstance(click, ClickReport)
    assert (click.phone, click.campaign_name, click.ip) == (E164, "sale", "1.2.3.4")


#: JSON nested deeper than any parser's recursion limit, yet under the size limit.
NESTED = b"[" * 30_000 + b"]" * 30_000


@pytest.mark.parametrize(
    ("url", "kwargs", "status"),
    [
        ("/twofactor/delivery/", {"json": REPORT}, 403),
        ("/twofactor/delivery/?token=wrong-token-wrong-token", {"json": REPORT}, 403),
        ("/twofactor/click/", {"data": "phoneNo=1"}, 403),
        (DELIVERY, {"data": "{not json", "content_type": "application/json"}, 400),
        (DELIVERY, {"json": {"SmsStatus": "DELIVERED"}}, 400),
        (DELIVERY, {"json": ["a", "b"]}, 400),
        (DELIVERY, {"data": b"", "content_type": "application/json"}, 400),
        (DELIVERY, {"data": b"\xff\xfe", "content_type": "text/plain"}, 400),
        (DELIVERY, {"data": b"x" * (MAX_WEBHOOK_BYTES + 1)}, 413),
        (DELIVERY, {"data": NESTED, "content_type": "application/json"}, 400),
        (
            f"/twofactor/click/?token={WEBHOOK_TOKEN}",
            {"data": NESTED, "content_type": "application/json"},
            400,
        ),
    ],
    ids=[
        "no-token",
        "wrong-token",
        "click-no-token",
        "bad-json",
        "missing-fields",
        "not-objects",
        "empty",
        "not-utf8",
        "too-large",
        "deeply-nested-json",
        "click-deeply-nested-json",
    ],
)
def test_refusals(
    hook_app: Flask, plugin: DeliveryPlugin, url: str, kwargs: dict[str, Any], status: int
):
    answer = hook_app.test_client().post(url, **kwargs)
    assert answer.status_code == status
    body = answer.get_json()
    assert body["ok"] is False and body["error"]
    assert WEBHOOK_TOKEN not in answer.get_data(as_text=True)
    assert plugin.reports == []


def test_only_post_is_allowed(hook_app: Flask):
    client = hook_app.test_client()
    assert client.get(DELIVERY).status_code == 405
    assert client.put(f"/twofactor/click/?token={WEBHOOK_TOKEN}").status_code == 405


def test_no_token_configured_refuses_everything(make_app: AppFactory):
    app = make_app(TWOFACTOR_WEBHOOK_TOKEN=None)
    assert app.test_client().post("/twofactor/delivery/?token=", json=REPORT).status_code == 403
    assert app.test_client().post(DELIVERY, json=REPORT).status_code == 403


def test_oversized_bodies_without_content_length(hook_app: Flask, plugin: DeliveryPlugin):
    """A chunked body has no Content-Length: the view stops reading after the limit."""

    def chunks(total: int) -> Iterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * 4096
            sent += 4096

    with LiveServer(hook_app) as server:
        big = requests.post(server.url + DELIVERY, data=chunks(MAX_WEBHOOK_BYTES * 4), timeout=5)
        small = requests.post(
            server.url + DELIVERY,
            data=iter([json.dumps(REPORT).encode()]),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
    assert big.status_code == 413
    assert small.status_code == 200 and small.json() == {"ok": True, "received": 1}
    assert len(plugin.reports) == 1


def test_app_max_content_length_smaller_than_ours(make_app: AppFactory):
    app = make_app(MAX_CONTENT_LENGTH=100)
    answer = app.test_client().post(DELIVERY, json={**REPORT, "callback_value2": "x" * 200})
    assert answer.status_code == 413 and answer.get_json()["ok"] is False


def test_custom_prefix(make_app: AppFactory):
    app = make_app(TWOFACTOR_URL_PREFIX="/hooks/sms")
    client = app.test_client()
    assert (
        client.post(f"/hooks/sms/delivery/?token={WEBHOOK_TOKEN}", json=REPORT).status_code == 200
    )
    assert client.post(DELIVERY, json=REPORT).status_code == 404


# --------------------------------------------------------------------------- end to end


def _collect(app: Flask) -> tuple[list[Any], Any]:
    out: list[Any] = []

    def record(sender: Flask, report: Any) -> None:
        out.append(report)

    return out, record


def test_emulator_delivery_reports_reach_the_blueprint(
    emulator_app: Flask,
    flask_server: LiveServer,
    twofactor: TwoFactor,
    twofactor_emulator: Emulator,
):
    """R1 (JSON report) and bulk with raw-url-encoded reports, over real HTTP both ways."""
    twofactor_emulator.callback_url = f"{flask_server.url}{DELIVERY}"
    twofactor_emulator.set_outcome("9876543211", "UNDELIVERED")
    reports, record = _collect(emulator_app)
    with delivery_received.connected_to(record, sender=emulator_app):
        with emulator_app.app_context():
            sms = twofactor.send_sms(PHONE, "Your OTP login was used")
            bulk = twofactor.send_bulk(
                [
                    BulkMessage(
                        to="+919876543211",
                        text="Bulk hello",
                        sender="TFACTR",
                        callback_value1="cv-1",
                        callback_format="raw-url-encoded",
                    )
                ]
            )
        attempts = twofactor_emulator.wait_for_deliveries(2, timeout=10)
    assert all(a.ok for a in attempts), [(a.status, a.error) for a in attempts]
    assert {a.content_type for a in attempts} == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    by_id = {r.message_id: r for r in reports}
    assert set(by_id) == {sms.message_id, bulk.accepted[0].message_id}
    assert by_id[sms.message_id].to == E164
    bulk_report = by_id[bulk.accepted[0].message_id]
    assert bulk_report.status is DeliveryStatus.UNDELIVERED
    assert bulk_report.callback_value1 == "cv-1"


def test_emulator_click_reaches_the_blueprint(
    emulator_app: Flask,
    flask_server: LiveServer,
    twofactor: TwoFactor,
    twofactor_emulator: Emulator,
):
    clicks, record = _collect(emulator_app)
    with click_received.connected_to(record, sender=emulator_app):
        with emulator_app.app_context():
            sms = twofactor.send_sms(
                PHONE,
                "Sale! https://example.com/sale",
                campaign_name="spring-sale",
                campaign_webhook=f"{flask_server.url}/twofactor/click/?token={WEBHOOK_TOKEN}",
            )
        twofactor_emulator.trigger_click(sms.message_id)
        (attempt,) = twofactor_emulator.wait_for_deliveries(1, timeout=10)
    assert attempt.ok
    (click,) = clicks
    assert (click.phone, click.campaign_name) == (E164, "spring-sale")


def test_emulator_reports_with_a_wrong_token_are_refused(
    emulator_app: Flask,
    flask_server: LiveServer,
    twofactor: TwoFactor,
    twofactor_emulator: Emulator,
):
    twofactor_emulator.callback_url = f"{flask_server.url}/twofactor/delivery/?token=not-the-token"
    reports, record = _collect(emulator_app)
    with delivery_received.connected_to(record, sender=emulator_app):
        with emulator_app.app_context():
            twofactor.send_sms(PHONE, "hello")
        (attempt,) = twofactor_emulator.wait_for_deliveries(1, timeout=10)
    assert attempt.status == 403
    assert reports == []


def test_blueprint_is_exempted_from_csrf_protection(make_app: AppFactory):
    """Flask-WTF keeps ``CSRFProtect`` in ``app.extensions["csrf"]`` with an ``exempt`` method."""

    class CSRF:
        def __init__(self) -> None:
            self.exempted: list[Any] = []

        def exempt(self, view: Any) -> Any:
            self.exempted.append(view)
            return view

    app = make_app(init=False)
    csrf = app.extensions["csrf"] = CSRF()
    TwoFactor(app)
    assert [bp.name for bp in csrf.exempted] == ["twofactor"]
