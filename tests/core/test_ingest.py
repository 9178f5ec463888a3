"""The one ingest path (``ingest_reports``): answers, duplicates recorded only after the
hand-over, per-implementation hook isolation, and tokens of any content."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofactor_notify import InMemoryTransport, hookimpl
from twofactor_notify.errors import WebhookError
from twofactor_notify.webhooks import (
    MAX_REPORTS_PER_BODY,
    TOKEN_HEADER,
    DuplicateFilter,
    IngestResult,
    check_token,
    ingest_reports,
    token_from,
)

TOKEN = "core-ingest-token-0123456789"
REPORT = {"SessionId": "s-1", "SmsTo": "9876543210", "SmsStatus": "DELIVERED"}
BODY = json.dumps(REPORT).encode()


def test_a_report_whose_hand_over_failed_is_not_taken_as_a_duplicate_on_retry() -> None:
    duplicates = DuplicateFilter()
    attempts: list[Any] = []

    def hand_over(report: Any) -> bool:
        attempts.append(report)
        if len(attempts) == 1:
            raise ConnectionError("the store is down")
        return True

    def deliver() -> IngestResult:  # the same report, posted again by 2Factor
        return ingest_reports(
            "delivery",
            BODY,
            None,
            token=TOKEN,
            expected_token=TOKEN,
            hand_over=hand_over,
            duplicates=duplicates,
        )

    first = deliver()
    assert (first.status, first.failed, first.new) == (503, 1, 0)
    retry = deliver()
    assert (retry.status, retry.new) == (200, 1)
    again = deliver()
    assert (again.status, again.duplicates, len(attempts)) == (200, 1, 2)


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        (BODY, "wrong", 403),
        (b"{not json", TOKEN, 400),
        (json.dumps([REPORT] * (MAX_REPORTS_PER_BODY + 1)).encode(), TOKEN, 400),
        (b"x" * (64 * 1024 + 1), TOKEN, 413),
    ],
    ids=["token", "malformed", "too-many-reports", "too-large"],
)
def test_only_an_invalid_request_is_answered_4xx(body: bytes, token: str, status: int) -> None:
    def hand_over(report: Any) -> bool:
        raise AssertionError("an invalid request reached the hand-over")

    result = ingest_reports(
        "delivery", body, None, token=token, expected_token=TOKEN, hand_over=hand_over
    )
    assert result.status == status and result.received == 0


def test_the_limit_of_reports_per_body_is_the_documented_one() -> None:
    body = json.dumps([dict(REPORT, SessionId=f"s-{n}") for n in range(MAX_REPORTS_PER_BODY)])
    result = ingest_reports(
        "delivery", body.encode(), None, token=TOKEN, expected_token=TOKEN, hand_over=lambda r: True
    )
    assert (result.status, result.new) == (200, MAX_REPORTS_PER_BODY)


class Broken:
    @hookimpl(tryfirst=True)
    def on_delivery(self, report: Any, transport: Any) -> None:
        raise RuntimeError(f"broke on {report.to}")


class Wrapper:
    def __init__(self) -> None:
        self.wrapped = 0

    @hookimpl(wrapper=True)
    def on_delivery(self, report: Any, transport: Any) -> Any:
        self.wrapped += 1
        return (yield)


class Recording:
    def __init__(self) -> None:
        self.reports: list[Any] = []

    @hookimpl
    def on_delivery(self, report: Any, transport: Any) -> None:
        self.reports.append(report)


@pytest.mark.parametrize("with_wrapper", [False, True], ids=["plain", "wrapped"])
def test_each_on_delivery_implementation_is_called_on_its_own(
    with_wrapper: bool, caplog: pytest.LogCaptureFixture
) -> None:
    first, last, wrapper = Recording(), Recording(), Wrapper()
    plugins: list[object] = [first, Broken(), last]
    if with_wrapper:
        plugins.append(wrapper)
    transport = InMemoryTransport(plugins=plugins, load_entrypoints=False)
    result = ingest_reports(
        "delivery",
        BODY,
        None,
        token=TOKEN,
        expected_token=TOKEN,
        hand_over=lambda r: transport.handle_report(r) or True,
    )
    assert result.status == 200
    assert len(first.reports) == len(last.reports) == 1
    assert wrapper.wrapped == (1 if with_wrapper else 0)
    assert "RuntimeError" in caplog.text and "Broken" in caplog.text
    assert "broke on" not in caplog.text and "9876543210" not in caplog.text


@given(st.one_of(st.text(), st.binary(), st.none(), st.integers()))
def test_a_token_of_any_content_is_403_never_another_error(given_token: Any) -> None:
    with pytest.raises(WebhookError) as caught:
        check_token(given_token, TOKEN)
    assert caught.value.http_status == 403


@pytest.mark.parametrize("token", ["\ud800", "a\udfffb", TOKEN[:-1] + "\udc80", "\x00", "é" * 40])
def test_lone_surrogates_and_odd_characters_are_403(token: str) -> None:
    result = ingest_reports(
        "delivery", BODY, None, token=token, expected_token=TOKEN, hand_over=lambda r: True
    )
    assert result.status == 403


@pytest.mark.parametrize(
    "headers",
    [
        {TOKEN_HEADER: TOKEN},
        {TOKEN_HEADER.lower(): TOKEN},  # ASGI servers give lower case
        {TOKEN_HEADER.upper(): TOKEN},
        {"HTTP_X_TWOFACTOR_TOKEN": TOKEN},  # a WSGI environ
        {TOKEN_HEADER.lower(): TOKEN.encode()},
    ],
)
def test_the_header_is_found_whatever_the_case_of_its_name(headers: dict[str, Any]) -> None:
    assert token_from(headers) == TOKEN
    assert token_from(headers, {"token": "other"}) == TOKEN  # the header wins


def test_the_query_is_read_only_when_given() -> None:
    assert token_from({}, None) is None
    assert token_from({}, {"token": TOKEN}) == TOKEN


def test_hook_failures_are_logged_on_the_transport_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    transport = InMemoryTransport(plugins=[Broken()], load_entrypoints=False)
    from twofactor_notify.models import DeliveryReport, DeliveryStatus

    transport.handle_report(
        DeliveryReport(message_id="m", status=DeliveryStatus.DELIVERED, raw_status="DELIVERED")
    )
    assert [r.name for r in caplog.records] == ["twofactor_notify.transport"]
