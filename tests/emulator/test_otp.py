"""V1 OTP endpoints beyond the documented examples: state, sandbox section, path forms."""

from __future__ import annotations

import time

import pytest
import requests

from twofactor_notify.emulator import Emulator


def get(emu: Emulator, tail: str, key: str | None = None) -> requests.Response:
    return requests.get(f"{emu.url}/API/V1/{key or emu.api_key}/SMS/{tail}", timeout=5)


def test_autogen_sends_six_digits_and_autogen3_four(twofactor_emulator: Emulator) -> None:
    get(twofactor_emulator, "9876543210/AUTOGEN")
    assert len(twofactor_emulator.last_otp("9876543210") or "") == 6
    get(twofactor_emulator, "9876543210/AUTOGEN3/Login")
    otp = twofactor_emulator.last_otp("+919876543210")
    assert otp is not None and len(otp) == 4 and otp.isdigit()
    record = twofactor_emulator.messages("9876543210")[-1]
    assert (record.kind, record.to, record.template) == ("otp", "+919876543210", "Login")


def test_autogen2_returns_the_otp_it_sent(twofactor_emulator: Emulator) -> None:
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    assert body["OTP"] == twofactor_emulator.last_otp("9876543210")
    assert "OTP" not in get(twofactor_emulator, "9876543210/AUTOGEN").json()


def test_custom_otp_is_sent_as_given(twofactor_emulator: Emulator) -> None:
    sent = get(twofactor_emulator, "9876543210/482913/Login").json()
    assert twofactor_emulator.last_otp("09876543210") == "482913"
    matched = get(twofactor_emulator, f"VERIFY/{sent['Details']}/482913")
    assert matched.json() == {"Status": "Error", "Details": "OTP Matched"}


@pytest.mark.parametrize("otp", ["123", "1234567", "12a4", "abcd"])
def test_custom_otp_of_wrong_form_is_refused(twofactor_emulator: Emulator, otp: str) -> None:
    answer = get(twofactor_emulator, f"9876543210/{otp}/Login")
    assert answer.status_code == 400
    assert answer.json()["Details"] == "Invalid OTP Code - Length Mismatch(Expected: 4-6)"
    assert twofactor_emulator.messages() == []


@pytest.mark.parametrize("phone", ["+919920123456", "919920123456", "09920123456", "9920123456"])
def test_v1_phone_forms(twofactor_emulator: Emulator, phone: str) -> None:
    assert get(twofactor_emulator, f"{phone}/AUTOGEN").status_code == 200
    assert twofactor_emulator.messages()[-1].to == "+919920123456"


@pytest.mark.parametrize("phone", ["987654321", "98765432100", "+1415555267", "98765abcde"])
def test_v1_bad_phones(twofactor_emulator: Emulator, phone: str) -> None:
    answer = get(twofactor_emulator, f"{phone}/AUTOGEN")
    assert answer.status_code == 400
    assert answer.json()["Details"] == "Invalid Phone Number - Length Mismatch(Expected: 10)"


def test_sandbox_template_send(twofactor_emulator: Emulator) -> None:
    """``/SMS/{phone}/{template}``: the sandbox section's custom template send."""
    answer = get(twofactor_emulator, "+919920123456/MyCustomTemplate")
    assert answer.status_code == 200
    assert answer.json()["Status"] == "Success"
    record = twofactor_emulator.messages("9920123456")[-1]
    assert record.template == "MyCustomTemplate" and record.otp is not None


def test_otp_is_single_use(twofactor_emulator: Emulator) -> None:
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    first = get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}")
    again = get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}")
    assert first.status_code == 200
    assert (again.status_code, again.json()["Details"]) == (400, "OTP Expired")


def test_mismatch_does_not_use_the_otp_up(twofactor_emulator: Emulator) -> None:
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    wrong = "000000" if body["OTP"] != "000000" else "111111"
    assert get(twofactor_emulator, f"VERIFY/{body['Details']}/{wrong}").status_code == 400
    assert get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}").status_code == 200


def test_expiry(twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twofactor_emulator, "otp_ttl", 0.1)
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    time.sleep(0.15)
    answer = get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}")
    assert answer.json() == {"Status": "Error", "Details": "OTP Expired"}


def test_verify3_checks_the_latest_otp_of_the_number(twofactor_emulator: Emulator) -> None:
    first = get(twofactor_emulator, "9876543210/AUTOGEN2").json()["OTP"]
    second = get(twofactor_emulator, "9876543210/AUTOGEN2").json()["OTP"]
    if first != second:
        assert get(twofactor_emulator, f"VERIFY3/9876543210/{first}").status_code == 400
    assert get(twofactor_emulator, f"VERIFY3/+919876543210/{second}").status_code == 200


def test_verify3_without_any_otp_is_a_mismatch(twofactor_emulator: Emulator) -> None:
    answer = get(twofactor_emulator, "VERIFY3/9876543210/123456")
    assert answer.json() == {"Status": "Error", "Details": "OTP Mismatch"}


def test_sessions_belong_to_their_account(twofactor_emulator: Emulator) -> None:
    other = twofactor_emulator.add_account("11111111-2222-3333-4444-555555555555")
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    answer = get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}", other.api_key)
    assert answer.json()["Details"] == "Invalid API / SessionId Combination - No Entry Exists"


def test_sandbox_dummy_session_matches(twofactor_emulator: Emulator) -> None:
    answer = get(twofactor_emulator, "VERIFY/Dummy-12345/12345")
    assert (answer.status_code, answer.json()) == (
        200,
        {"Status": "Success", "Details": "OTP Matched"},
    )
    assert get(twofactor_emulator, "VERIFY/Dummy-12345/54321").json()["Details"] == "OTP Mismatch"


def test_verify2_always_mismatches(twofactor_emulator: Emulator) -> None:
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    answer = get(twofactor_emulator, f"VERIFY2/{body['Details']}/{body['OTP']}")
    assert answer.json() == {"Status": "Error", "Details": "OTP Mismatch"}


def test_sandbox_style_success(
    twofactor_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(twofactor_emulator, "sandbox_style_success", True)
    body = get(twofactor_emulator, "9876543210/AUTOGEN2").json()
    answer = get(twofactor_emulator, f"VERIFY/{body['Details']}/{body['OTP']}")
    assert answer.json() == {"Status": "Success", "Details": "OTP Matched"}


def test_key_is_checked_before_anything_else(twofactor_emulator: Emulator) -> None:
    answer = get(twofactor_emulator, "123/AUTOGEN", key="nope")
    assert answer.json()["Details"] == "Invalid API Key"
    assert get(twofactor_emulator, "VERIFY/x/1", key="nope").json()["Details"] == "Invalid API Key"


def test_unknown_paths_and_methods(twofactor_emulator: Emulator) -> None:
    assert get(twofactor_emulator, "9876543210").status_code == 404
    assert get(twofactor_emulator, "9876543210/AUTOGEN/a/b").status_code == 404
    url = f"{twofactor_emulator.url}/API/V1/{twofactor_emulator.api_key}/SMS/9876543210/AUTOGEN"
    assert requests.post(url, timeout=5).status_code == 405
    assert requests.get(f"{twofactor_emulator.url}/nowhere", timeout=5).status_code == 404
