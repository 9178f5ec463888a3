"""Every example response of the API reference (``shared/seed/examples.json``), reproduced.

Each example is driven by a request that should produce it; the answer must have the same
HTTP status and the same body, with generated values (ids, OTPs, timestamps, processing
times) compared by shape. docs/emulator.md lists which test id covers which example.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from twofactor_notify.emulator import Emulator
from twofactor_notify.emulator.routes.r1 import ERRORS as R1_ERRORS

PHONE = "9876543210"
Driver = Callable[[Emulator], requests.Response]


def v1(emu: Emulator, tail: str, key: str | None = None) -> requests.Response:
    return requests.get(f"{emu.url}/API/V1/{key or emu.api_key}/SMS/{tail}", timeout=5)


def send_and_verify(kind: str, outcome: str) -> Driver:
    """Send an OTP, then verify it by session (VERIFY) or phone (VERIFY3) to get ``outcome``."""

    def drive(emu: Emulator) -> requests.Response:
        sent = v1(emu, f"{PHONE}/AUTOGEN2").json()
        otp = sent["OTP"]
        target = sent["Details"] if kind == "VERIFY" else PHONE
        if outcome == "mismatch":
            otp = "000000" if otp != "000000" else "111111"
        elif outcome == "expired":
            time.sleep(emu.otp_ttl + 0.05)
        return v1(emu, f"{kind}/{target}/{otp}")

    return drive


def r1(module: str, **overrides: str) -> Driver:
    def drive(emu: Emulator) -> requests.Response:
        form = {
            "module": module,
            "apikey": emu.api_key,
            "to": "919876543210,918765432109",
            "from": "TFACTR",
            "msg": "DLT Approved Message Text Goes Here",
        }
        form.update(overrides)
        return requests.post(f"{emu.url}/API/R1/", data=form, timeout=5)

    return drive


def bulk(emu: Emulator) -> requests.Response:
    message = {
        "smsFrom": "TFACTR",
        "smsText": "This is your first message.",
        "callback_value1": "Enter Custom value",
        "callback_value2": "Enter Custom value",
        "callback_format": "json",
    }
    body = {
        "module": "TRANS_SMS",
        "apikey": emu.api_key,
        "messages": [
            {**message, "smsTo": "+919876543210"},
            {**message, "smsTo": "+918765432109", "smsText": "This is your second message."},
        ],
    }
    return requests.post(f"{emu.url}/API/R1/Bulk/", json=body, timeout=5)


def otp_family(segment: str) -> dict[str, Driver]:
    """The four examples every V1 send request documents.

    The AUTOGEN requests carry no OTP of their own, so their "Invalid OTP value length"
    example is driven through the same path family with a 3-digit OTP segment.
    """
    return {
        "OTP Sent Successfully": lambda emu: v1(emu, f"{PHONE}/{segment}/OTPTemplate"),
        "Invalid Phone Number Length": lambda emu: v1(emu, f"98765/{segment}/OTPTemplate"),
        "Invalid API Key Provided": lambda emu: v1(
            emu, f"{PHONE}/{segment}/OTPTemplate", key="00000000-0000-0000-0000-000000000000"
        ),
        "Invalid OTP value length": lambda emu: v1(emu, f"{PHONE}/123/OTPTemplate"),
    }


#: (request name, example name) -> (test id, driver)
DRIVERS: dict[tuple[str, str], tuple[str, Driver]] = {}
for _request, _segment, _slug in (
    ("Send OTP ( AUTOGEN )", "AUTOGEN", "autogen"),
    ("Send OTP ( AUTOGEN2 )", "AUTOGEN2", "autogen2"),
    ("Send OTP ( AUTOGEN3 )", "AUTOGEN3", "autogen3"),
    ("Send OTP ( Manual Generation )", "4567", "manual"),
):
    for _example, _driver in otp_family(_segment).items():
        _id = f"{_slug}-" + re.sub(r"[^a-z0-9]+", "-", _example.lower()).strip("-")
        DRIVERS[(_request, _example)] = (_id, _driver)
for _request, _kind, _slug in (
    ("Verify OTP ( Using OTP Session Id + OTP Value)", "VERIFY", "verify"),
    ("Verify OTP ( Using PhoneNumber + OTP Value)", "VERIFY3", "verify3"),
):
    DRIVERS[(_request, "OTP Matched")] = (f"{_slug}-matched", send_and_verify(_kind, "match"))
    DRIVERS[(_request, "OTP Mismatched")] = (
        f"{_slug}-mismatched",
        send_and_verify(_kind, "mismatch"),
    )
    DRIVERS[(_request, "OTP Expired")] = (f"{_slug}-expired", send_and_verify(_kind, "expired"))
DRIVERS[("Verify OTP ( Using OTP Session Id + OTP Value)", "Incorrect OTP Session Id Passed")] = (
    "verify-incorrect-session",
    lambda emu: v1(emu, "VERIFY/6b1f3c1e-0000-4000-8000-000000000000/123456"),
)
DRIVERS[("Send Single SMS", "Success")] = ("r1-trans-success", r1("TRANS_SMS"))
DRIVERS[("Send Single SMS", "Error")] = ("r1-trans-error", r1("TRANS_SMS", to=""))
DRIVERS[("Send SMS", "Success")] = ("r1-promo-success", r1("PROMO_SMS"))
DRIVERS[("Send SMS", "Error")] = ("r1-promo-error", r1("PROMO_SMS", to=""))
DRIVERS[("Send Bulk SMS", "Send Bulk SMS")] = ("bulk-success", bulk)

#: What the emulator answers where the reference only shows ``ERR_DETAILS_GO_HERE``.
PLACEHOLDER_ANSWERS = {"ERR_DETAILS_GO_HERE": R1_ERRORS["missing"].format("to")}

_SHAPES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"), "<iso-timestamp>"),
    (re.compile(r"\+91[0-9X]{10}"), "<+91 phone>"),
    (re.compile(r"[0-9a-fA-FX]{8}(?:-[0-9a-fA-FX]{4}){3}-[0-9a-fA-FX]{12}"), "<id>"),
    (re.compile(r"[a-z0-9]{10,}-[0-9a-f]{16}"), "<id>"),  # the sandbox-era session id form
    (re.compile(r"[0-9a-f]{32}"), "<32-hex id>"),
    (re.compile(r"[0-9]{6}"), "<6-digit otp>"),
]
_SUFFIXED = re.compile(r"(.+)-([0-9]+)")


def shape(value: Any, key: str = "") -> Any:
    """``value`` with generated parts replaced by what kind of value they are."""
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if key == "processingTime":
        return "<int>" if isinstance(value, int) else value
    if isinstance(value, str):
        value = PLACEHOLDER_ANSWERS.get(value, value)
        for pattern, name in _SHAPES:
            if pattern.fullmatch(value):
                return name
        suffixed = _SUFFIXED.fullmatch(value)
        if suffixed and shape(suffixed.group(1)) == "<id>":
            return f"<id>-{suffixed.group(2)}"
    return value


def _cases() -> list[Any]:
    return [pytest.param(key, id=test_id) for key, (test_id, _) in DRIVERS.items()]


@pytest.fixture
def short_ttl(twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setattr(twofactor_emulator, "otp_ttl", 0.3)
    return twofactor_emulator


@pytest.mark.parametrize("case", _cases())
def test_example(
    case: tuple[str, str], short_ttl: Emulator, reference_examples: list[dict[str, Any]]
) -> None:
    """The emulator answers the documented status and body for this example."""
    examples = {
        (req["name"], ex["name"]): ex for req in reference_examples for ex in req["examples"]
    }
    example = examples[case]
    _, drive = DRIVERS[case]
    answer = drive(short_ttl)
    assert answer.status_code == example["http_status"], answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert shape(answer.json()) == shape(example["body"])


def test_every_documented_example_has_a_driver(reference_examples: list[dict[str, Any]]) -> None:
    """A new example in the reference must get a conformance case here."""
    documented = {(req["name"], ex["name"]) for req in reference_examples for ex in req["examples"]}
    assert documented == set(DRIVERS)
    assert len(documented) == 28


def test_the_kept_copy_of_the_examples_matches_the_reference() -> None:
    """The copy kept with the tests must not drift from shared/ (when shared/ is there)."""
    from .conftest import KEPT_EXAMPLES, SHARED_EXAMPLES

    kept = json.loads(KEPT_EXAMPLES.read_text(encoding="utf-8"))
    if not SHARED_EXAMPLES.is_file():
        pytest.skip("shared/ is not beside this clone: nothing to compare the copy with")
    assert kept == json.loads(SHARED_EXAMPLES.read_text(encoding="utf-8"))
