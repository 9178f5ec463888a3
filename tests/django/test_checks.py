"""System checks on TWOFACTOR_NOTIFY (what ``manage.py check`` reports)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client, override_settings

from django_twofactor.checks import check_settings

from .conftest import base_settings
from .test_webhooks import report

pytestmark = pytest.mark.django_db


def ids(**extra: Any) -> list[str]:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(**extra)):
        return [m.id for m in check_settings() if m.id]


def test_the_test_settings_pass() -> None:
    assert ids() == []


def test_missing_api_key_for_2factor_backend() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="2factor")):
        (message,) = check_settings()
    assert message.id == "django_twofactor.E001"
    assert "API_KEY" in message.msg
    assert message.hint and "console" in message.hint


def test_api_key_not_needed_by_other_backends() -> None:
    for backend in ("console", "locmem", "dummy"):
        assert ids(BACKEND=backend) == []


def test_malformed_api_key() -> None:
    assert ids(BACKEND="2factor", API_KEY="short") == ["django_twofactor.E008"]


def test_malformed_sender_id() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(SENDER_ID="TOO-LONG-ID")):
        (message,) = check_settings()
    assert message.id == "django_twofactor.E002"
    assert message.hint and "1 to 6 letters or digits" in message.hint


def test_unknown_plugin_path() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(PLUGINS=["no.such.module.Plugin"])):
        (message,) = check_settings()
    assert message.id == "django_twofactor.E003"
    assert "no.such.module.Plugin" in message.msg


def test_known_plugin_path_passes() -> None:
    assert ids(PLUGINS=["django_twofactor.plugin.MessageLogPlugin"]) == []


def test_missing_webhook_token_while_webhooks_are_routed() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(WEBHOOK_TOKEN=None)):
        (message,) = check_settings()
    assert message.id == "django_twofactor.E004"
    assert message.hint and "?token=" in message.hint


def test_missing_webhook_token_without_webhook_urls_is_fine() -> None:
    with override_settings(
        ROOT_URLCONF="tests.django.urls_without_webhooks",
        TWOFACTOR_NOTIFY=base_settings(WEBHOOK_TOKEN=None),
    ):
        assert [m.id for m in check_settings()] == []


def test_short_webhook_token_warns() -> None:
    assert ids(WEBHOOK_TOKEN="short") == ["django_twofactor.W002"]


@pytest.mark.parametrize(
    "token", ["ToK" + "é" * 20, "a token with spaces in it", "tab\there-1234567890"]
)
def test_a_webhook_token_no_header_can_carry_warns(token: str) -> None:
    assert ids(WEBHOOK_TOKEN=token) == ["django_twofactor.W003"]


def test_unknown_backend() -> None:
    assert ids(BACKEND="carrier-pigeon") == ["django_twofactor.E005"]
    assert ids(BACKEND="django_twofactor.models.OutgoingMessage") == ["django_twofactor.E005"]


def test_file_backend_needs_a_path() -> None:
    assert ids(BACKEND="file") == ["django_twofactor.E006"]


def test_phone_field_checked_when_auth_backend_enabled() -> None:
    with override_settings(
        AUTHENTICATION_BACKENDS=["django_twofactor.auth.PhoneOTPBackend"],
        ROOT_URLCONF="tests.otp.urls",  # the login views not routed
    ):
        assert ids(PHONE_FIELD="username") == []
        assert ids(PHONE_FIELD="phone") == ["django_twofactor.E007"]


def test_phone_field_checked_when_the_login_views_are_routed() -> None:
    # tests.urls includes django_twofactor.urls (the README's quickstart): its login views
    # look users up by PHONE_FIELD, with or without the auth backend
    assert ids(PHONE_FIELD="username") == []
    (message,) = [m for m in check_settings_with(PHONE_FIELD="phone")]
    assert message.id == "django_twofactor.E007" and "'phone'" in message.msg
    with override_settings(ROOT_URLCONF="tests.otp.urls"):  # neither backend nor views
        assert ids(PHONE_FIELD="phone") == []


def check_settings_with(**extra: Any) -> list[Any]:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(**extra)):
        return list(check_settings())


def test_bad_template_unknown_key_and_wrong_type() -> None:
    assert ids(OTP_TEMPLATE="../x") == ["django_twofactor.E009"]
    assert ids(API_SECRET="x") == ["django_twofactor.W001"]
    assert ids(TIMEOUT="soon") == ["django_twofactor.E010"]
    with override_settings(TWOFACTOR_NOTIFY=["not", "a", "dict"]):
        assert [m.id for m in check_settings()] == ["django_twofactor.E010"]


def test_manage_py_check_reports_without_printing_secrets() -> None:
    secret = "not-a-valid key but secret"
    with override_settings(
        TWOFACTOR_NOTIFY=base_settings(BACKEND="2factor", API_KEY=secret, SENDER_ID="!!")
    ):
        with pytest.raises(SystemCheckError) as info:
            call_command("check", stdout=StringIO(), stderr=StringIO())
    text = str(info.value)
    assert "django_twofactor.E008" in text and "django_twofactor.E002" in text
    assert secret not in text


def test_odd_values_are_reported_not_crashed_on() -> None:
    assert ids(LOG_RETENTION_DAYS=float("inf")) == ["django_twofactor.E010"]
    assert ids(TIMEOUT=float("nan")) == ["django_twofactor.E010"]
    with override_settings(TWOFACTOR_NOTIFY={**base_settings(), 1: 2}):
        (message,) = check_settings()
    assert message.id == "django_twofactor.W001" and "1" in message.msg


def test_a_webhook_token_that_is_not_a_string() -> None:
    token = b"0123456789abcdefgh"
    with override_settings(TWOFACTOR_NOTIFY=base_settings(WEBHOOK_TOKEN=token)):
        (message,) = check_settings()
        assert message.id == "django_twofactor.E011"
        assert "bytes" in message.msg and "0123456789" not in message.msg + str(message.hint)
        # and at run time the webhook refuses (403) instead of failing with a 500
        answer = Client(raise_request_exception=False).post(
            f"/twofactor/delivery/?token={token.decode()}", data="{}", content_type="text/json"
        )
        assert answer.status_code == 403
    assert ids(WEBHOOK_TOKEN=12345678901234567) == ["django_twofactor.E011"]
    assert ids(API_KEY=1234567890, BACKEND="console") == ["django_twofactor.E011"]


def test_an_unknown_cache_alias() -> None:
    assert ids(CACHE_ALIAS="nope") == ["django_twofactor.E012"]


def test_limits_under_one() -> None:
    assert ids(LOGIN_MAX_ATTEMPTS=0) == ["django_twofactor.E013"]
    assert ids(SEND_LIMIT=0, SEND_WINDOW_SECONDS=-1) == ["django_twofactor.E013"] * 2
    assert ids(LOG_RETENTION_DAYS=None) == []


@pytest.mark.django_db
def test_the_webhooks_alone_need_no_phone_field_and_answer_with_and_without_the_slash() -> None:
    """docs/django-webhooks.md: route just the webhooks, and the login views' check is off."""
    with override_settings(
        ROOT_URLCONF="tests.django.urls_webhooks_only",
        TWOFACTOR_NOTIFY=base_settings(PHONE_FIELD="phone", WEBHOOK_QUERY_TOKEN=False),
    ):
        assert [m.id for m in check_settings()] == []
        client = Client()
        for url in ("/twofactor/delivery/", "/twofactor/delivery"):
            answer = client.post(
                url,
                data=json.dumps(report(SessionId=f"only-webhooks{url[-1]}")),
                content_type="application/json",
                headers={"X-TwoFactor-Token": base_settings()["WEBHOOK_TOKEN"]},
            )
            assert answer.status_code == 200, (url, answer.status_code)
        assert client.post("/twofactor/login/").status_code == 404
