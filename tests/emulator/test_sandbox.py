"""Sandbox mode: an account answering as the reference's "Sandbox / Testing" section says.

Each test quotes the sentence of the section it checks (``shared/seed/2factor-api.txt``,
"Send SMS OTP / Sandbox / Testing").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.emulator.cli import PROG
from twofactor_notify.models import VerificationOutcome

from .conftest import Receiver

#: The session ids the section shows ("Details": "mf2djpsmqnrwmwob7z-978c24505cf48a13", ...).
REFERENCE_SESSION_IDS = (
    "mf2djpsmqnrwmwob7z-978c24505cf48a13",
    "mf2dxd0bhngrkfjm79j-978c33db288487d8",
    "mf2ddmrx85yxvr8c4i90h22-978c35134572494d8",
)


def _session_id_form() -> re.Pattern[str]:
    """The form of the section's ids, measured on them: base-36 head, ``-``, hex tail."""
    heads, tails = zip(*(i.split("-") for i in REFERENCE_SESSION_IDS), strict=True)
    assert all(re.fullmatch(r"[a-z0-9]+", h) for h in heads)
    assert all(re.fullmatch(r"[0-9a-f]+", t) for t in tails)
    head = f"[a-z0-9]{{{min(map(len, heads))},{max(map(len, heads))}}}"
    tail = f"[0-9a-f]{{{min(map(len, tails))},{max(map(len, tails))}}}"
    return re.compile(f"{head}-{tail}")


SESSION_ID = _session_id_form()
MISMATCH = {"Status": "Error", "Details": "OTP Mismatch"}
MATCHED = {"Status": "Success", "Details": "OTP Matched"}

#: Every send form the section lists ("Endpoint Pattern"), plus AUTOGEN3 and a custom OTP,
#: which the production reference documents and the section covers with "all API endpoints".
SEND_FORMS = [
    "+919920123456/AUTOGEN/OTPTest",
    "+919920123456/AUTOGEN",
    "+919920123456/AUTOGEN2/OTPTest",
    "+919920123456/AUTOGEN2",
    "+919920123456/MyCustomTemplate",
    "9920123456/AUTOGEN3/OTPTest",
    "9920123456/48213/OTPTest",
]


def v1(emu: Emulator, tail: str, key: str | None = None) -> requests.Response:
    return requests.get(f"{emu.url}/API/V1/{key or emu.api_key}/SMS/{tail}", timeout=5)


@pytest.fixture
def sandbox(twofactor_emulator: Emulator) -> Emulator:
    twofactor_emulator.sandbox = True  # put back by the fixture's reset(settings=True)
    return twofactor_emulator


@pytest.mark.parametrize("tail", SEND_FORMS)
def test_every_send_answers_a_dummy_success(sandbox: Emulator, tail: str) -> None:
    """ "Once enabled, all API endpoints will return dummy responses instead of sending actual
    SMS messages"; "Status: Always "Success" in sandbox"; "Details: Unique session ID for OTP
    verification (randomly generated)"; "No actual SMS sent"."""
    answers = [v1(sandbox, tail) for _ in range(2)]
    bodies = [a.json() for a in answers]
    assert [a.status_code for a in answers] == [200, 200]
    assert all(b["Status"] == "Success" for b in bodies)
    assert all(SESSION_ID.fullmatch(b["Details"]) for b in bodies), bodies
    # "Random session IDs: Each request generates a new random session ID"
    assert bodies[0]["Details"] != bodies[1]["Details"]
    if "/AUTOGEN2" in tail:
        # "OTP: 6-digit OTP code (randomly generated)"
        assert all(re.fullmatch(r"[0-9]{6}", b["OTP"]) for b in bodies)
        assert set(bodies[0]) == {"Status", "Details", "OTP"}
    else:
        assert all(set(b) == {"Status", "Details"} for b in bodies)
    assert sandbox.messages() == [] and sandbox.last_otp("9920123456") is None
    assert [e.status for e in sandbox.requests] == [200, 200]  # the request log has them


def test_sends_succeed_whatever_the_number(sandbox: Emulator) -> None:
    """ "Status: Always "Success" in sandbox": the number is not checked (nothing is sent)."""
    answer = v1(sandbox, "12345/AUTOGEN")
    assert answer.status_code == 200 and answer.json()["Status"] == "Success"


def test_verify_mismatches_except_the_dummy_session(sandbox: Emulator) -> None:
    """The section's "Testing Workflow Example": Step 1 AUTOGEN2, Step 2 "Verify OTP (Testing
    Mismatch)" with the session just issued answers {"Status": "Error", "Details": "OTP
    Mismatch"}, Step 3 VERIFY/Dummy-12345/12345 answers {"Status": "Success", "Details":
    "OTP Matched"}. "Fixed test credentials: Only Dummy-12345/12345 returns success for
    VERIFY"."""
    sent = v1(sandbox, "+919920123456/AUTOGEN2/TestTemplate").json()
    # even the OTP the send itself returned does not match
    for otp in (sent["OTP"], "123456"):
        answer = v1(sandbox, f"VERIFY/{sent['Details']}/{otp}")
        assert (answer.status_code, answer.json()) == (200, MISMATCH)
    answer = v1(sandbox, "VERIFY/mf2ddmrx85yxvr8c4i90h22-978c35134572494d8/123456")
    assert (answer.status_code, answer.json()) == (200, MISMATCH)
    assert (v1(sandbox, "VERIFY/Dummy-12345/12345").json()) == MATCHED
    # it stays fixed: it matches again, and only with 12345
    assert (v1(sandbox, "VERIFY/Dummy-12345/12345").json()) == MATCHED
    assert (v1(sandbox, "VERIFY/Dummy-12345/54321").json()) == MISMATCH


def test_verify2_and_verify3_always_mismatch(sandbox: Emulator) -> None:
    """ "Note: VERIFY2 endpoints always return "OTP Mismatch" in sandbox mode for testing error
    handling." VERIFY3 is not in the section; "Only Dummy-12345/12345 returns success for
    VERIFY" leaves it no success either."""
    sent = v1(sandbox, "+919920123456/AUTOGEN2").json()
    for tail in (
        f"VERIFY2/{sent['Details']}/{sent['OTP']}",
        "VERIFY2/Dummy-12345/12345",
        f"VERIFY3/9920123456/{sent['OTP']}",
        "VERIFY3/9920123456/12345",
    ):
        answer = v1(sandbox, tail)
        assert (answer.status_code, answer.json()) == (200, MISMATCH), tail


def test_every_answer_is_http_200(sandbox: Emulator) -> None:
    """ "HTTP Status Codes: All sandbox endpoints return HTTP 200 with JSON response body.
    Check the Status field in the response to determine success or failure": an "Error"
    answer of the sandbox is HTTP 200, where production answers 400."""
    statuses = {
        v1(sandbox, tail).status_code
        for tail in ("VERIFY/x/1", "VERIFY2/x/1", "VERIFY3/9920123456/1", "1/AUTOGEN")
    }
    assert statuses == {200}
    sandbox.sandbox = False
    assert v1(sandbox, "VERIFY2/x/1").status_code == 400  # production's status for the same


def test_unknown_keys_and_paths_are_not_sandboxed(sandbox: Emulator) -> None:
    """Sandbox mode belongs to an account ("Sandbox mode must be enabled per account"): a key
    no account has still answers "Invalid API Key", and a path that is no endpoint 404."""
    answer = v1(sandbox, "9920123456/AUTOGEN", key="00000000-0000-0000-0000-000000000000")
    assert (answer.status_code, answer.json()["Details"]) == (400, "Invalid API Key")
    assert v1(sandbox, "9920123456/AUTOGEN/a/b").status_code == 404
    assert v1(sandbox, "VERIFY/only-a-session").status_code == 404
    url = f"{sandbox.url}/API/V1/{sandbox.api_key}/SMS/9920123456/AUTOGEN"
    assert requests.post(url, timeout=5).status_code == 405


def test_sandbox_is_per_account(twofactor_emulator: Emulator) -> None:
    """ "Account-specific: Sandbox mode must be enabled per account": a sandbox account and a
    production account side by side."""
    emu = twofactor_emulator
    testing = emu.add_account("5a1d0000-0000-4000-8000-00000000beef", sandbox=True)
    dummy = v1(emu, "9920123456/AUTOGEN2", key=testing.api_key).json()
    real = v1(emu, "9920123456/AUTOGEN2").json()
    assert SESSION_ID.fullmatch(dummy["Details"]) and not SESSION_ID.fullmatch(real["Details"])
    assert [m.id for m in emu.messages()] == [real["Details"]]
    assert v1(emu, f"VERIFY/{real['Details']}/{real['OTP']}").json()["Details"] == "OTP Matched"
    emu.set_sandbox(False, api_key=testing.api_key)
    assert not SESSION_ID.fullmatch(
        v1(emu, "9920123456/AUTOGEN", key=testing.api_key).json()["Details"]
    )
    with pytest.raises(LookupError):
        emu.set_sandbox(True, api_key="no-such-key")


def _r1(emu: Emulator, **extra: str) -> requests.Response:
    form = {"module": "TRANS_SMS", "apikey": emu.api_key, "to": "919920123456", "from": "TFACTR"}
    return requests.post(f"{emu.url}/API/R1/", data={**form, "msg": "Hello", **extra}, timeout=5)


def _bulk(emu: Emulator, *to: str) -> requests.Response:
    messages = [{"smsFrom": "TFACTR", "smsTo": n, "smsText": "Hello"} for n in to]
    body = {"module": "TRANS_SMS", "apikey": emu.api_key, "messages": messages}
    return requests.post(f"{emu.url}/API/R1/Bulk/", json=body, timeout=5)


def test_r1_and_bulk_deliver_nothing(sandbox: Emulator, receiver: Receiver) -> None:
    """ "all API endpoints will return dummy responses instead of sending actual SMS
    messages": R1 and bulk sends of a sandbox account are answered (checked as in
    production: the section documents no other answer for them) but nothing is recorded or
    reported. A production account's report, sent after them, is the only one to arrive."""
    sandbox.callback_url = receiver.url + "/dlr"
    assert _r1(sandbox).json()["Status"] == "Success"
    assert _r1(sandbox, to="12").status_code == 400  # still checked
    bulk = _bulk(sandbox, "+919920123456", "+911").json()
    assert (bulk["messageCount"], len(bulk["rejectedSamples"])) == (1, 1)
    assert sandbox.messages() == []
    production = sandbox.add_account("5a1d0000-0000-4000-8000-0000000000aa")
    form = {"module": "TRANS_SMS", "apikey": production.api_key, "to": "918765432109"}
    requests.post(f"{sandbox.url}/API/R1/", data={**form, "from": "TFACTR", "msg": "Hi"}, timeout=5)
    got = receiver.wait(1)
    assert [r.json()["SmsTo"] for r in got] == ["8765432109"]
    assert [m.to for m in sandbox.messages()] == ["+918765432109"]


def test_encrypted_send_delivers_nothing(
    sandbox: Emulator, twofactor_client: TwoFactorClient
) -> None:
    """The encrypted send of a sandbox account is answered, nothing is recorded, so the
    delivery lookup finds no record of it."""
    sent = twofactor_client.send_sms_encrypted("+919920123456", "Hello", sender="TFACTR")
    assert sent.message_id and sandbox.messages() == []
    assert not twofactor_client.lookup_delivery(sent.message_id).found
    sandbox.sandbox = False
    real = twofactor_client.send_sms_encrypted("+919920123456", "Hello", sender="TFACTR")
    assert twofactor_client.lookup_delivery(real.message_id).found


def test_the_client_in_sandbox_mode(sandbox: Emulator, twofactor_client: TwoFactorClient) -> None:
    """The section's workflow through the project's client: the HTTP 200 "Error" answers
    are mismatches, not failures."""
    sent = twofactor_client.send_otp("+919920123456", include_otp=True)
    assert SESSION_ID.fullmatch(sent.session_id) and sent.otp
    assert twofactor_client.verify_otp(sent.otp, session_id=sent.session_id).outcome is (
        VerificationOutcome.MISMATCH
    )
    assert twofactor_client.verify_otp("12345", session_id="Dummy-12345").matched
    assert not twofactor_client.verify_otp_sandbox("12345", session_id="Dummy-12345").matched


# ------------------------------------------------------------------ ways to enable it


def test_enabled_by_constructor_and_restored_by_reset() -> None:
    with Emulator(sandbox=True) as emu:
        assert emu.sandbox and SESSION_ID.fullmatch(v1(emu, "9920123456/AUTOGEN").json()["Details"])
        emu.sandbox = False
        emu.reset(settings=True)
        assert emu.sandbox


def test_replacing_the_default_account_is_seen(twofactor_emulator: Emulator) -> None:
    """``add_account`` with the default key replaces that account: the emulator's
    ``sandbox`` and ``secret_key`` are the new account's."""
    emu = twofactor_emulator
    try:
        emu.add_account(emu.api_key, "n" * 32, sandbox=True)
        assert emu.sandbox and emu.secret_key == "n" * 32
        assert SESSION_ID.fullmatch(v1(emu, "9920123456/AUTOGEN").json()["Details"])
    finally:
        emu.add_account(emu.api_key)  # a session-wide emulator: leave a plain default account
    assert not emu.sandbox


def test_enabled_over_the_inspection_api(twofactor_emulator: Emulator) -> None:
    emu = twofactor_emulator
    other = emu.add_account("5a1d0000-0000-4000-8000-0000000000bb")
    config = requests.post(f"{emu.url}/__emulator__/config", json={"sandbox": True}, timeout=5)
    assert config.status_code == 200 and emu.sandbox
    answer = requests.post(
        f"{emu.url}/__emulator__/sandbox",
        json={"enabled": True, "api_key": other.api_key},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["sandbox"] is True
    assert other.sandbox
    for path, body in (
        ("config", {"sandbox": "yes"}),
        ("sandbox", {"enabled": 1}),
    ):
        bad = requests.post(f"{emu.url}/__emulator__/{path}", json=body, timeout=5)
        assert bad.status_code == 400, path
    unknown = requests.post(
        f"{emu.url}/__emulator__/sandbox", json={"api_key": "nobody"}, timeout=5
    )
    assert unknown.status_code == 404


def test_enabled_by_the_command_line_flag() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "twofactor_notify.emulator", "--port", "0", "--sandbox"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" ", 1)[-1].strip()
        api_key = proc.stdout.readline().split(":", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(2)]
        assert any("Sandbox mode" in line for line in lines), lines
        sent = requests.get(f"{url}/API/V1/{api_key}/SMS/9920123456/AUTOGEN", timeout=5)
        assert SESSION_ID.fullmatch(sent.json()["Details"])
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_command_line_help_names_the_flag() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "twofactor_notify.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0 and "--sandbox " in shown.stdout and PROG in shown.stdout


@pytest.mark.twofactor_sandbox
def test_enabled_by_the_pytest_marker(twofactor_emulator: Emulator) -> None:
    assert twofactor_emulator.sandbox
    assert v1(twofactor_emulator, "VERIFY/Dummy-12345/12345").json() == MATCHED


def test_unmarked_tests_are_not_in_sandbox_mode(twofactor_emulator: Emulator) -> None:
    assert not twofactor_emulator.sandbox


USER_SUITE = """
import pytest
import requests

def send(emu):
    url = f"{emu.url}/API/V1/{emu.api_key}/SMS/9920123456/AUTOGEN"
    return requests.get(url, timeout=5).json()["Details"]

def test_whole_run_in_sandbox(twofactor_emulator):
    assert twofactor_emulator.sandbox and "-" in send(twofactor_emulator)
    assert twofactor_emulator.messages() == []

@pytest.mark.twofactor_sandbox(False)
def test_marker_turns_it_off(twofactor_emulator):
    assert not twofactor_emulator.sandbox
    send(twofactor_emulator)
    assert len(twofactor_emulator.messages()) == 1
"""


def test_ini_option_in_a_users_suite(tmp_path: Path) -> None:
    """``twofactor_sandbox = true`` puts every test's emulator in sandbox mode; the marker with
    ``False`` takes one test out; ``--strict-markers`` knows the marker."""
    (tmp_path / "test_user.py").write_text(USER_SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntwofactor_sandbox = true\n")
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"]
    if not any(ep.name == "twofactor_notify" for ep in entry_points(group="pytest11")):
        args += ["-p", "twofactor_notify.pytest_plugin"]
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [*args, "--strict-markers", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
