"""The client reads 2Factor's JSON answers whatever ``Content-Type`` they come with.

The reference's saved R1 answers list ``Content-Type: application/x-www-form-urlencoded``
among headers that look like a capture of the request (``Host``, ``User-Agent``,
``Cookie``); its bulk answer says ``application/json``. The emulator answers
``application/json`` and can be told to label its JSON answers otherwise
(``json_content_type``); every public method of the client that talks to 2Factor must then
work the same, on success and on refusal. The methods are discovered, so a new one fails
:func:`test_every_public_method_is_driven` until it is driven here too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import requests

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import InvalidResponseError, TwoFactorError
from twofactor_notify.models import BulkMessage, BulkResult, DeliveryLookup

#: The labels the service's JSON may come with: its own, the one the reference's saved R1
#: headers list, and what a proxy or misconfigured server might send.
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/html; charset=UTF-8",
    "text/plain",
]
PHONE = "+919876543210"


def _bulk(n: int = 2) -> list[BulkMessage]:
    return [BulkMessage(to=f"+91987654321{i}", text="Hello", sender="TFACTR") for i in range(n)]


def _check_bulk(result: Any) -> None:
    assert isinstance(result, BulkResult)
    assert len(result.accepted) == 2 and result.ok, result


Call = Callable[[TwoFactorClient], Any]
Check = Callable[[Any], None]


def _session(client: TwoFactorClient) -> str:
    return client.send_otp(PHONE).session_id


#: method -> (call, check of its result); the same call with a bad API key must refuse.
DRIVERS: dict[str, tuple[Call, Check]] = {
    "send_otp": (
        lambda c: c.send_otp(PHONE, include_otp=True),
        lambda r: r.session_id and r.otp,
    ),
    "send_template_sms": (lambda c: c.send_template_sms(PHONE, "Welcome"), lambda r: r.session_id),
    "verify_otp": (
        lambda c: c.verify_otp("000000", session_id="6b1f3c1e-0000-4000-8000-000000000000"),
        lambda r: r.outcome.value == "unknown_session",
    ),
    "verify_otp_sandbox": (
        lambda c: c.verify_otp_sandbox("123456", session_id="Dummy-12345"),
        lambda r: r.outcome.value == "mismatch",
    ),
    "send_sms": (lambda c: c.send_sms(PHONE, "Hello", sender="TFACTR"), lambda r: r.message_id),
    "send_message": (
        lambda c: c.send_message(_message()),
        lambda r: r.message_id,
    ),
    "send_bulk_chunk": (lambda c: c.send_bulk_chunk(_bulk()), _check_bulk),
    "send_bulk": (lambda c: c.send_bulk(_bulk()), _check_bulk),
    "iter_bulk": (lambda c: _one(c.iter_bulk(_bulk())), _check_bulk),
    "send_sms_encrypted": (
        lambda c: c.send_sms_encrypted(PHONE, "Hello", sender="TFACTR"),
        lambda r: r.message_id,
    ),
    "lookup_delivery": (
        lambda c: c.lookup_delivery("0" * 32, date.today()),
        lambda r: isinstance(r, DeliveryLookup),
    ),
}
#: Public methods that never talk to 2Factor.
OFFLINE = {"close"}


def _message() -> Any:
    from twofactor_notify.models import SMSMessage

    return SMSMessage(to=(PHONE,), text="Hello", sender="TFACTR")


def _one(results: Iterator[BulkResult]) -> BulkResult:
    (result,) = list(results)
    return result


def test_every_public_method_is_driven() -> None:
    public = {
        name
        for name, member in inspect.getmembers(TwoFactorClient, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public - OFFLINE == set(DRIVERS)


@pytest.fixture(params=CONTENT_TYPES)
def labelled(request: pytest.FixtureRequest, twofactor_emulator: Emulator) -> Emulator:
    twofactor_emulator.json_content_type = request.param  # put back by the fixture's reset
    return twofactor_emulator


def _client(emu: Emulator, api_key: str | None = None) -> TwoFactorClient:
    return TwoFactorClient(
        api_key or emu.api_key, base_url=emu.url, secret_key=emu.secret_key, timeout=5
    )


def test_the_emulator_labels_its_json_answers(labelled: Emulator) -> None:
    answer = requests.get(f"{labelled.url}/API/V1/{labelled.api_key}/SMS/12/AUTOGEN", timeout=5)
    assert answer.headers["Content-Type"] == labelled.json_content_type
    assert answer.json()["Details"].startswith("Invalid Phone Number")
    health = requests.get(f"{labelled.url}/__emulator__/health", timeout=5)
    assert health.headers["Content-Type"] == "application/json"  # its own API keeps JSON


@pytest.mark.parametrize("method", sorted(DRIVERS))
def test_success_whatever_the_content_type(labelled: Emulator, method: str) -> None:
    call, check = DRIVERS[method]
    with _client(labelled) as client:
        result = call(client)
    verdict = check(result)
    assert verdict is None or bool(verdict), result
    assert labelled.requests  # it did go to the emulator


@pytest.mark.parametrize("method", sorted(DRIVERS))
def test_refusal_whatever_the_content_type(labelled: Emulator, method: str) -> None:
    """A refusal is read as 2Factor's refusal (its ``Details``), never as an unreadable
    answer."""
    call, _ = DRIVERS[method]
    with _client(labelled, api_key="00000000-0000-4000-8000-000000000000") as client:
        with pytest.raises(TwoFactorError) as caught:
            call(client)
    assert not isinstance(caught.value, InvalidResponseError), repr(caught.value)
    assert caught.value.status == 400
    assert "Invalid API Key" in (caught.value.details or "")


def test_bad_content_types_are_refused(twofactor_emulator: Emulator) -> None:
    for bad in ("json", "text/html\r\nX-Evil: 1", "", "a/b; c"):
        with pytest.raises(ValueError):
            twofactor_emulator.json_content_type = bad
    answer = requests.post(
        f"{twofactor_emulator.url}/__emulator__/config",
        json={"json_content_type": "text/html\nX: 1"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert twofactor_emulator.json_content_type == "application/json"
    done = requests.post(
        f"{twofactor_emulator.url}/__emulator__/config",
        json={"json_content_type": "text/html"},
        timeout=5,
    )
    assert done.status_code == 200 and twofactor_emulator.json_content_type == "text/html"
