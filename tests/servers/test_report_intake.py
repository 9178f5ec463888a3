"""What reaches the webhooks is kept, in Django and Flask alike, through the one ingest path.

* Every value the send side accepts for a field 2Factor echoes back (``callback_value1``,
  ``callback_value2``, ``campaign_name``) is stored exactly as sent once the emulator's
  callback brings it back: control characters included, never a 4xx.
* One invalid report in a JSON list loses none of the valid ones beside it.
* A report's number is read in the E.164 form of the message log, for every country.

Each test runs against both frameworks (``framework`` fixture); Django stores on the
suite's database (SQLite, or PostgreSQL with ``TWOFACTOR_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("flask")
pytest.importorskip("django")
import requests
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from twofactor_notify.emulator.callbacks import click_payload, delivery_payload
from twofactor_notify.emulator.state import MessageRecord
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.models import BulkMessage, SMSMessage
from twofactor_notify.validation import check_bulk_message, check_sms_message
from twofactor_notify.webhooks import TOKEN_HEADER

pytestmark = pytest.mark.django_db

DJANGO_TOKEN = "test-webhook-token"
FLASK_TOKEN = "intake-test-token-0123456789abcdef"
PHONE = "+919876543210"

#: The fields of a message 2Factor echoes into a report, and the report field each lands in.
ROUND_TRIPPED = {
    "callback_value1": ("delivery", "callback_value1"),
    "callback_value2": ("delivery", "callback_value2"),
    "campaign_name": ("click", "campaign_name"),
}
#: Echoed in a callback but not part of a report: the click's extra ``shortenurlcallback``
#: field (the user's own URL, for their own redirect service) and the identifiers the
#: library checks strictly before sending (number, sender id).
NOT_STORED = {"shorten_url_callback", "to", "sender"}

CONTROL_VALUES = [
    "a\tb",
    "a\nb",
    "a\rb",
    "a\u00a0b",
    "a\u2028b",
    "a\u0085b",
    "a\x7fb",
    "order #1 \u2713",
    "\U0001f600" * 64,
    " leading and trailing ",
    "x" * 256,
]


@dataclass
class Webhook:
    """One framework's webhook: ``post`` a body, then read back what was handed over."""

    name: str
    post: Callable[[bytes, str, str], tuple[int, dict[str, Any]]]
    stored: Callable[[str], list[dict[str, Any]]]


def _django_webhook() -> Webhook:
    from django.test import Client

    from django_twofactor.models import ClickReport, DeliveryReport

    def post(body: bytes, content_type: str, kind: str) -> tuple[int, dict[str, Any]]:
        answer = Client(raise_request_exception=False).post(
            f"/twofactor/{kind}/",
            data=body,
            content_type=content_type,
            headers={TOKEN_HEADER: DJANGO_TOKEN},
        )
        return answer.status_code, answer.json()

    def stored(kind: str) -> list[dict[str, Any]]:
        if kind == "click":
            return [
                {"campaign_name": r.campaign_name, "to": r.phone, "id": ""}
                for r in ClickReport.objects.order_by("id")
            ]
        return [
            {
                "id": r.message_id,
                "to": r.recipient,
                "callback_value1": r.callback_value1,
                "callback_value2": r.callback_value2,
            }
            for r in DeliveryReport.objects.order_by("id")
        ]

    return Webhook("django", post, stored)


def _flask_webhook() -> Webhook:
    from flask import Flask

    from flask_twofactor import TwoFactor
    from flask_twofactor.signals import click_received, delivery_received

    app = Flask(f"intake_{uuid.uuid4().hex[:8]}")
    app.config.update(
        TESTING=True,
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=FLASK_TOKEN,
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
    )
    TwoFactor(app)
    seen: dict[str, list[dict[str, Any]]] = {"delivery": [], "click": []}

    def on_delivery(sender: Any, report: Any, **extra: Any) -> None:
        seen["delivery"].append(
            {
                "id": report.message_id,
                "to": report.to,
                "callback_value1": report.callback_value1 or "",
                "callback_value2": report.callback_value2 or "",
            }
        )

    def on_click(sender: Any, report: Any, **extra: Any) -> None:
        seen["click"].append({"campaign_name": report.campaign_name, "to": report.phone, "id": ""})

    delivery_received.connect(on_delivery, sender=app, weak=False)
    click_received.connect(on_click, sender=app, weak=False)
    client = app.test_client()

    def post(body: bytes, content_type: str, kind: str) -> tuple[int, dict[str, Any]]:
        answer = client.post(
            f"/twofactor/{kind}/",
            data=body,
            content_type=content_type,
            headers={TOKEN_HEADER: FLASK_TOKEN},
        )
        return answer.status_code, answer.get_json()

    return Webhook("flask", post, lambda kind: list(seen[kind]))


@pytest.fixture(params=["django", "flask"])
def webhook(request: pytest.FixtureRequest) -> Iterator[Webhook]:
    if request.param == "django":
        settings_fixture = request.getfixturevalue("settings")
        settings_fixture.TWOFACTOR_NOTIFY = {
            **settings_fixture.TWOFACTOR_NOTIFY,
            "BACKEND": "locmem",
            "WEBHOOK_TOKEN": DJANGO_TOKEN,
        }
        yield _django_webhook()
    else:
        yield _flask_webhook()


def _record(**fields: Any) -> MessageRecord:
    values: dict[str, Any] = {
        "id": "m-" + uuid.uuid4().hex,
        "kind": "bulk",
        "to": PHONE,
        "account": "a",
        "time": time.time(),
        "sender": "TFACTR",
        "status_at": time.time(),
    }
    values.update(fields)
    return MessageRecord(**values)


def _as_emulator_posts(payload: dict[str, str], form: bool) -> tuple[bytes, str]:
    """The body and content type the emulator's poster sends for ``payload`` (requests'
    ``data=`` for a form, ``json=`` otherwise)."""
    prepared = requests.Request(
        "POST", "http://127.0.0.1/", **({"data": payload} if form else {"json": payload})
    ).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else str(prepared.body).encode()
    return body, str(prepared.headers["Content-Type"])


def _accepted_by_the_send_side(name: str, value: str) -> bool:
    try:
        if name == "campaign_name":
            check_sms_message(
                SMSMessage(to=(PHONE,), text="t", sender="TFACTR", campaign_name=value)
            )
        else:
            check_bulk_message(BulkMessage(to=PHONE, text="t", sender="TFACTR", **{name: value}))
    except InvalidInputError:
        return False
    return True


def _round_trip(webhook: Webhook, name: str, value: str, form: bool) -> None:
    kind, stored_as = ROUND_TRIPPED[name]
    record = _record(**{name: value})
    payload = delivery_payload(record) if kind == "delivery" else click_payload(record, "1.2.3.4")
    if kind == "click":
        payload["accessed"] = f"2025-01-01 10:{len(webhook.stored('click')) % 60:02d}:00"
    body, content_type = _as_emulator_posts(payload, form)
    before = len(webhook.stored(kind))
    status, answer = webhook.post(body, content_type, kind)
    assert status == 200, (webhook.name, answer)
    rows = webhook.stored(kind)
    assert len(rows) == before + 1
    assert rows[-1][stored_as] == value


def test_every_echoed_field_of_every_message_is_round_tripped() -> None:
    """Discovers which message fields the emulator echoes into a callback: each must be one
    this module round-trips (or a documented identifier), so a field added later is caught."""
    markers = {}
    fields = {
        f.name
        for cls in (BulkMessage, SMSMessage)
        for f in dataclasses.fields(cls)
        if f.name in {g.name for g in dataclasses.fields(MessageRecord)}
    }
    record_fields = {}
    for name in fields:
        marker = f"MARK{len(markers):03d}"
        markers[marker] = name
        record_fields[name] = marker
    record = _record(**{k: v for k, v in record_fields.items() if k != "to"})
    payloads = [delivery_payload(record), click_payload(record, "1.2.3.4")]
    echoed = {markers[v] for p in payloads for v in p.values() if v in markers}
    assert echoed, "the discovery found no echoed field at all"
    assert echoed <= set(ROUND_TRIPPED) | NOT_STORED, echoed - set(ROUND_TRIPPED)


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("value", CONTROL_VALUES)
@pytest.mark.parametrize("name", sorted(ROUND_TRIPPED))
def test_control_characters_the_send_side_accepts_are_stored_not_refused(
    webhook: Webhook, name: str, value: str, form: bool
) -> None:
    if not _accepted_by_the_send_side(name, value):
        # campaign names are printable only, at most 100: the send side never sends these
        assert name == "campaign_name"
        return
    _round_trip(webhook, name, value, form)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(ROUND_TRIPPED)),
    value=st.text(min_size=1, max_size=256),
    form=st.booleans(),
)
@example(name="callback_value1", value="a\x00b", form=False)  # refused by the send side
@example(name="callback_value1", value="\u2028\u0085\x7f\t", form=True)
def test_any_value_the_send_side_accepts_comes_back_unchanged(
    webhook: Webhook, name: str, value: str, form: bool
) -> None:
    assume(_accepted_by_the_send_side(name, value))
    _round_trip(webhook, name, value, form)


def test_the_send_side_refuses_what_no_report_could_bring_back() -> None:
    for value in ("a\x00b", "\ud800", "x" * 257):
        assert not _accepted_by_the_send_side("callback_value1", value)


def _report(**changes: Any) -> dict[str, Any]:
    data = {
        "SessionId": "s-" + uuid.uuid4().hex,
        "SmsTo": "9876543210",
        "SmsStatus": "DELIVERED",
        "StatusAt": "2025-01-01 10:00:05",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "bad",
    [
        {"SessionId": "x"},  # no SmsStatus
        {"SmsStatus": "DELIVERED"},  # no SessionId
        5,  # not an object
        {"SessionId": "y", "SmsStatus": "SENT", "StatusAt": "yesterday"},
        {"SessionId": "z", "SmsStatus": "SENT", "SmsTo": {"n": 1}},
    ],
    ids=["no-status", "no-id", "not-an-object", "bad-time", "bad-number"],
)
def test_one_bad_report_in_a_list_loses_none_of_the_valid_ones(webhook: Webhook, bad: Any) -> None:
    good = [_report(), _report()]
    body = json.dumps([good[0], bad, good[1]]).encode()
    status, answer = webhook.post(body, "application/json", "delivery")
    assert status == 200 and answer["refused"] == 1
    assert [r["id"] for r in webhook.stored("delivery")] == [g["SessionId"] for g in good]
    # 2Factor's retry of the same body: the valid ones are duplicates, nothing else happens
    status, answer = webhook.post(body, "application/json", "delivery")
    assert status == 200 and answer["refused"] == 1
    assert len(webhook.stored("delivery")) == 2


def test_a_list_of_only_invalid_reports_is_400(webhook: Webhook) -> None:
    body = json.dumps([{"SessionId": "x"}, 5]).encode()
    status, _ = webhook.post(body, "application/json", "delivery")
    assert status == 400
    assert webhook.stored("delivery") == []


@pytest.mark.parametrize(
    ("sent_to", "given"),
    [
        ("+12025550188", None),  # None: the form the emulator writes (digits without "+")
        ("+447911123499", None),
        ("+61412345678", None),
        ("+919876512399", None),  # India: the 10 national digits
        ("+919876512399", "919876512399"),
        ("+919876512399", "+91 98765 12399"),
    ],
)
def test_a_reports_number_is_read_in_e164_for_every_country(
    webhook: Webhook, sent_to: str, given: str | None
) -> None:
    payload = delivery_payload(_record(to=sent_to))
    if given is not None:
        payload["SmsTo"] = given
    body, content_type = _as_emulator_posts(payload, form=False)
    status, _ = webhook.post(body, content_type, "delivery")
    assert status == 200
    assert webhook.stored("delivery")[-1]["to"] == sent_to
