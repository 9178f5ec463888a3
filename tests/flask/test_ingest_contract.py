"""The ingest contract of the Flask blueprint: every plugin and receiver is called on its
own, a report is handed over before it counts as seen, and the token is taken from the
header (any case) by default."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from flask_twofactor.signals import delivery_received, message_failed, message_sent
from twofactor_notify import hookimpl
from twofactor_notify.webhooks import TOKEN_HEADER

from .conftest import PHONE, WEBHOOK_TOKEN, AppFactory

REPORT = {
    "SessionId": "b7a3f0d2-1111-2222-3333-444455556666",
    "SmsTo": PHONE,
    "SmsStatus": "DELIVERED",
    "StatusAt": "2024-05-01 10:00:05",
}


class Log:
    def __init__(self) -> None:
        self.calls: list[str] = []


class FirstPlugin:
    def __init__(self, log: Log) -> None:
        self.log = log

    @hookimpl(tryfirst=True)
    def on_delivery(self, report: Any, transport: Any) -> None:
        self.log.calls.append("plugin-1")
        raise KeyError(f"plugin broke on {report.to}")

    @hookimpl(tryfirst=True)
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        self.log.calls.append("after-1")
        raise KeyError(f"plugin broke on {message.recipients}")


class SecondPlugin:
    def __init__(self, log: Log) -> None:
        self.log = log

    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        self.log.calls.append("plugin-2")

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        self.log.calls.append("after-2")


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def hooked_app(make_app: AppFactory, log: Log) -> Flask:
    return make_app(TWOFACTOR_PLUGINS=[FirstPlugin(log), SecondPlugin(log)])


def test_raising_plugins_and_receivers_stop_no_other_and_log_their_type_only(
    hooked_app: Flask, log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def first(app: Flask, **kwargs: Any) -> None:
        log.calls.append("receiver-1")
        raise ValueError(f"receiver broke on {kwargs}")

    def second(app: Flask, **kwargs: Any) -> None:
        log.calls.append("receiver-2")

    with (
        delivery_received.connected_to(first, sender=hooked_app),
        delivery_received.connected_to(second, sender=hooked_app),
    ):
        answer = hooked_app.test_client().post(
            "/twofactor/delivery/", json=REPORT, headers={TOKEN_HEADER: WEBHOOK_TOKEN}
        )
    assert answer.status_code == 200 and answer.get_json()["received"] == 1
    assert sorted(log.calls) == ["plugin-1", "plugin-2", "receiver-1", "receiver-2"]
    assert "ValueError" in caplog.text and "KeyError" in caplog.text
    assert PHONE not in caplog.text and "broke" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


def test_raising_after_send_plugins_and_signal_receivers_stop_no_other(
    hooked_app: Flask, log: Log
) -> None:
    def first(app: Flask, **kwargs: Any) -> None:
        log.calls.append("sent-1")
        raise ValueError("receiver broke")

    def second(app: Flask, **kwargs: Any) -> None:
        log.calls.append("sent-2")

    with (
        hooked_app.app_context(),
        message_sent.connected_to(first, sender=hooked_app),
        message_sent.connected_to(second, sender=hooked_app),
        message_failed.connected_to(first, sender=hooked_app),
    ):
        hooked_app.extensions["twofactor"].transport.send_sms(PHONE, "hello")
    assert sorted(log.calls) == ["after-1", "after-2", "sent-1", "sent-2"]


@pytest.mark.parametrize("name", [TOKEN_HEADER, TOKEN_HEADER.lower(), TOKEN_HEADER.upper()])
def test_the_header_is_matched_whatever_its_case(make_app: AppFactory, name: str) -> None:
    app = make_app(TWOFACTOR_WEBHOOK_QUERY_TOKEN=False)
    answer = app.test_client().post(
        "/twofactor/delivery/", json=REPORT, headers={name: WEBHOOK_TOKEN}
    )
    assert answer.status_code == 200


def test_the_query_form_is_off_unless_switched_on() -> None:
    from flask_twofactor import TwoFactor

    app = Flask("query_default")
    app.config.update(
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
    )
    TwoFactor(app)
    client = app.test_client()
    assert (
        client.post(f"/twofactor/delivery/?token={WEBHOOK_TOKEN}", json=REPORT).status_code == 403
    )
    answer = client.post("/twofactor/delivery/", json=REPORT, headers={TOKEN_HEADER: WEBHOOK_TOKEN})
    assert answer.status_code == 200


@pytest.mark.parametrize("query", ["token=%ED%A0%80", "token=%FF%FE", "token=%00"])
def test_a_query_token_of_any_content_is_403(app: Flask, query: str) -> None:
    answer = app.test_client().post(f"/twofactor/delivery/?{query}", json=REPORT)
    assert answer.status_code == 403


@pytest.mark.parametrize("value", ["\xff\xfe", "é" * 20, "\x01", " "])
def test_a_header_token_of_any_content_is_403(app: Flask, value: str) -> None:
    answer = app.test_client().post(
        "/twofactor/delivery/", json=REPORT, environ_base={"HTTP_X_TWOFACTOR_TOKEN": value}
    )
    assert answer.status_code == 403
