"""send_otp and verify_otp against the emulator over HTTP: URL shapes, phone forms, local
refusals (nothing sent) and the documented answers mapped to results and error classes."""

from __future__ import annotations

import time

import pytest
import requests

from twofactor_notify import (
    AuthenticationError,
    InvalidInputError,
    InvalidPhoneNumberError,
    OTPError,
    RequestRejectedError,
    TwoFactorClient,
    Verification,
    VerificationOutcome,
)

from .conftest import wait_for_requests

PHONE = "9876543210"
E164 = "+919876543210"


def paths(emulator, count=1):
    return [entry.path for entry in wait_for_requests(emulator, count)]


# --------------------------------------------------------------------------- send_otp


@pytest.mark.parametrize("template", [None, "Login OTP"])
@pytest.mark.parametrize(
    ("kwargs", "variant", "otp_length", "returns_otp"),
    [
        ({}, "AUTOGEN", 6, False),
        ({"include_otp": True}, "AUTOGEN2", 6, True),
        ({"length": 4}, "AUTOGEN3", 4, False),
        ({"otp": "482913"}, "482913", 6, True),
        ({"otp": "4829"}, "4829", 4, True),
    ],
)
def test_send_otp_variants_and_url_shapes(
    emulator, client, kwargs, variant, otp_length, returns_otp, template
):
    sent = client.send_otp(PHONE, template=template, **kwargs)

    expected = f"/API/V1/<redacted>/SMS/{PHONE}/{variant}"
    if template is not None:
        expected += "/Login%20OTP"
    assert paths(emulator) == [expected]
    assert sent.to == E164
    assert sent.session_id
    delivered = emulator.last_otp(PHONE)
    assert delivered is not None and len(delivered) == otp_length and delivered.isdigit()
    if returns_otp:
        assert sent.otp == delivered
    else:
        assert sent.otp is None
    (record,) = emulator.messages(PHONE)
    assert record.template == template
    assert record.id == sent.session_id
    # the OTP never shows in the receipt's repr; the recipient's number does, and a random
    # code can be a run of its digits ("8765" in +919876543210: about 1 in 1,100 for 4)
    assert delivered not in repr(sent).replace(repr(sent.to), "'<to>'")
    assert repr(sent.to) in repr(sent)


@pytest.mark.parametrize(
    "typed",
    [
        "9876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "0919876543210",
        "919876543210",
        "09876543210",
        "0091 98765 43210",
        " (+91) 98765 43210 ",
    ],
)
def test_phone_forms_people_type_reach_the_server_as_10_digits(emulator, client, typed):
    sent = client.send_otp(typed)
    assert paths(emulator) == [f"/API/V1/<redacted>/SMS/{PHONE}/AUTOGEN"]
    assert sent.to == E164


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.send_otp("12345"), "phone"),
        (lambda c: c.send_otp("98765432101234"), "phone"),
        (lambda c: c.send_otp("not a phone"), "phone"),
        (lambda c: c.send_otp(PHONE, otp="12a4"), "otp"),
        (lambda c: c.send_otp(PHONE, otp="123"), "otp"),
        (lambda c: c.send_otp(PHONE, otp="1234567"), "otp"),
        (lambda c: c.send_otp(PHONE, otp="../BAL"), "otp"),
        (lambda c: c.send_otp(PHONE, otp="1234", include_otp=True), "include_otp"),
        (lambda c: c.send_otp(PHONE, length=5), "length"),
        (lambda c: c.send_otp(PHONE, length=4, include_otp=True), "include_otp"),
        (lambda c: c.send_otp(PHONE, template="a/b"), "template"),
        (lambda c: c.send_otp(PHONE, template="../../R1"), "template"),
        (lambda c: c.send_otp(PHONE, template="x%2Fy"), "template"),
        (lambda c: c.send_template_sms(PHONE, "AUTOGEN2"), "template"),
        (lambda c: c.send_template_sms(PHONE, "123456"), "template"),
        (lambda c: c.verify_otp("../BAL", session_id="abc-123"), "otp"),
        (lambda c: c.verify_otp("12a4", phone=PHONE), "otp"),
        (lambda c: c.verify_otp("123456", session_id="../BAL"), "session_id"),
        (lambda c: c.verify_otp("123456", session_id="abc/def"), "session_id"),
        (lambda c: c.verify_otp("123456", session_id=".."), "session_id"),
        (lambda c: c.verify_otp("123456", session_id="abc%2Fdef"), "session_id"),
        (lambda c: c.verify_otp("123456", session_id="abc?x=1"), "session_id"),
        (lambda c: c.verify_otp("123456", session_id=""), "session_id"),
        (lambda c: c.verify_otp("123456", phone="12"), "phone"),
        (lambda c: c.verify_otp("123456"), "session_id"),
        (lambda c: c.verify_otp("123456", session_id="abc", phone=PHONE), "session_id"),
        (lambda c: c.verify_otp(123456, session_id="abc"), "otp"),
        (lambda c: c.verify_otp_sandbox("123456", session_id="a/b"), "session_id"),
    ],
)
def test_invalid_input_is_refused_before_any_request(emulator, client, call, field):
    with pytest.raises(InvalidInputError) as caught:
        call(client)
    assert caught.value.field == field
    assert caught.value.status is None
    if field == "phone":
        assert isinstance(caught.value, InvalidPhoneNumberError)
    if field == "otp":
        assert isinstance(caught.value, OTPError)
    assert emulator.requests == []
    assert emulator.messages() == []


SEND_VARIANTS = {
    "AUTOGEN": {},
    "AUTOGEN2": {"include_otp": True},
    "AUTOGEN3": {"length": 4},
    "custom": {"otp": "4829"},
}


@pytest.mark.parametrize("template", [None, "Login"])
@pytest.mark.parametrize("variant", list(SEND_VARIANTS))
def test_invalid_api_key_maps_to_authentication_error(emulator, make_client, variant, template):
    stranger = make_client(api_key="00000000-aaaa-bbbb-cccc-000000000000")
    with pytest.raises(AuthenticationError) as caught:
        stranger.send_otp(PHONE, template=template, **SEND_VARIANTS[variant])
    assert caught.value.status == 400
    assert caught.value.details == "Invalid API Key"
    assert emulator.messages() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.verify_otp("123456", session_id="abc-123"),
        lambda c: c.verify_otp("123456", phone=PHONE),
        lambda c: c.verify_otp_sandbox("123456", session_id="abc-123"),
        lambda c: c.send_template_sms(PHONE, "Welcome"),
    ],
)
def test_invalid_api_key_on_verify_and_template_sends(emulator, make_client, call):
    stranger = make_client(api_key="00000000-aaaa-bbbb-cccc-000000000000")
    with pytest.raises(AuthenticationError) as caught:
        call(stranger)
    assert caught.value.details == "Invalid API Key"


_LENGTH_MISMATCH = (
    '{"Status": "Error", "Details": "Invalid Phone Number - Length Mismatch(Expected: 10)"}'
)


@pytest.mark.parametrize("variant", list(SEND_VARIANTS))
def test_a_number_the_otp_endpoints_refuse_is_refused_before_any_request(emulator, client, variant):
    # a valid number elsewhere, which the V1 path (10 digits expected) refuses: the check
    # layer refuses it as 2Factor would, so nothing is sent
    with pytest.raises(InvalidPhoneNumberError) as caught:
        client.send_otp("+1 415 555 2671", **SEND_VARIANTS[variant])
    assert caught.value.field == "phone"
    assert "Indian numbers only" in caught.value.message
    assert emulator.requests == []


@pytest.mark.parametrize("variant", list(SEND_VARIANTS))
def test_server_phone_length_error_maps_to_invalid_phone_with_field(emulator, client, variant):
    # should 2Factor answer it all the same, the answer maps to the same error class
    emulator.inject("status", times=1, status=400, body=_LENGTH_MISMATCH)
    with pytest.raises(InvalidPhoneNumberError) as caught:
        client.send_otp(PHONE, **SEND_VARIANTS[variant])
    assert caught.value.field == "phone"
    assert caught.value.status == 400
    assert caught.value.details == "Invalid Phone Number - Length Mismatch(Expected: 10)"
    assert emulator.messages() == []


def test_verify3_phone_length_error(emulator, client):
    with pytest.raises(InvalidPhoneNumberError) as caught:
        client.verify_otp("123456", phone="+1 415 555 2671")
    assert caught.value.field == "phone"
    assert emulator.requests == []
    emulator.inject("status", times=1, status=400, body=_LENGTH_MISMATCH)
    with pytest.raises(InvalidPhoneNumberError) as caught:
        client.verify_otp("123456", phone=PHONE)
    assert caught.value.field == "phone"
    assert caught.value.status == 400


def _replay(emulator, response: requests.Response) -> None:
    """Make the emulator answer its own earlier answer once more (status, body, type)."""
    emulator.inject(
        "status",
        times=1,
        status=response.status_code,
        body=response.text,
        content_type=response.headers["Content-Type"],
    )


@pytest.mark.parametrize("variant", list(SEND_VARIANTS))
def test_server_otp_length_error_maps_to_otp_error(emulator, client, variant):
    # our client cannot produce a bad OTP on the wire; ask the emulator directly, then make
    # it give that same answer to a client call
    raw = requests.get(f"{emulator.url}/API/V1/{emulator.api_key}/SMS/{PHONE}/123/Login", timeout=5)
    assert raw.status_code == 400
    assert raw.json() == {
        "Status": "Error",
        "Details": "Invalid OTP Code - Length Mismatch(Expected: 4-6)",
    }
    _replay(emulator, raw)
    with pytest.raises(OTPError) as caught:
        client.send_otp(PHONE, **SEND_VARIANTS[variant])
    assert caught.value.field == "otp"
    assert caught.value.status == 400


def test_template_send_without_otp(emulator, client):
    sent = client.send_template_sms("+919876543210", "Welcome")
    assert paths(emulator) == [f"/API/V1/<redacted>/SMS/{PHONE}/Welcome"]
    assert sent.session_id == emulator.messages(PHONE)[0].id


def test_unknown_detail_maps_to_request_rejected(emulator, client):
    emulator.inject(
        "status",
        times=1,
        status=400,
        body='{"Status":"Error","Details":"Insufficient Balance"}',
        content_type="application/json",
    )
    with pytest.raises(RequestRejectedError) as caught:
        client.send_otp(PHONE)
    assert caught.value.details == "Insufficient Balance"


# --------------------------------------------------------------------------- verify_otp


def test_verify_by_session_id_matches_once(emulator, client):
    sent = client.send_otp(PHONE)
    otp = emulator.last_otp(PHONE)
    result = client.verify_otp(otp, session_id=sent.session_id)
    assert result.outcome is VerificationOutcome.MATCHED
    assert result and result.matched
    assert paths(emulator, 2)[-1] == f"/API/V1/<redacted>/SMS/VERIFY/{sent.session_id}/{otp}"
    # single use: the same code again no longer matches
    again = client.verify_otp(otp, session_id=sent.session_id)
    assert not again
    assert again.outcome is not VerificationOutcome.MATCHED


def test_verify_mismatch_is_falsy_not_an_error(emulator, client):
    sent = client.send_otp(PHONE, otp="482913")
    result = client.verify_otp("111111", session_id=sent.session_id)
    assert result.outcome is VerificationOutcome.MISMATCH
    assert not result
    assert result.details == "OTP Mismatch"
    # a mismatch does not use the session up
    assert client.verify_otp("482913", session_id=sent.session_id)


def test_verify_expired(emulator, client):
    emulator.otp_ttl = 0.05
    sent = client.send_otp(PHONE, otp="482913")
    time.sleep(0.1)
    result = client.verify_otp("482913", session_id=sent.session_id)
    assert result.outcome is VerificationOutcome.EXPIRED
    assert not result


def test_verify_unknown_session(emulator, client):
    result = client.verify_otp("123456", session_id="ab88279e-0105-415f-912e-2f24162b8cbb")
    assert result.outcome is VerificationOutcome.UNKNOWN_SESSION
    assert not result
    assert "No Entry Exists" in result.details


@pytest.mark.parametrize("typed", ["9876543210", "+91 98765 43210", "0919876543210"])
def test_verify_by_phone_verify3(emulator, client, typed):
    client.send_otp(PHONE, length=4)
    otp = emulator.last_otp(PHONE)
    assert not client.verify_otp("0000" if otp != "0000" else "1111", phone=typed)
    result = client.verify_otp(otp, phone=typed)
    assert result.matched
    assert paths(emulator, 3)[-1] == f"/API/V1/<redacted>/SMS/VERIFY3/{PHONE}/{otp}"


def test_verify_by_phone_expired(emulator, client):
    emulator.otp_ttl = 0.05
    client.send_otp(PHONE, otp="4829")
    time.sleep(0.1)
    result = client.verify_otp("4829", phone=PHONE)
    assert result.outcome is VerificationOutcome.EXPIRED
    assert not result


def test_verify_by_phone_follows_the_latest_otp(emulator, client):
    client.send_otp(PHONE, otp="111111")
    client.send_otp(PHONE, otp="222222")
    assert client.verify_otp("222222", phone=PHONE)


@pytest.mark.parametrize("sandbox_style", [False, True])
def test_matched_is_decided_by_details_not_status(emulator, client, sandbox_style):
    emulator.sandbox_style_success = sandbox_style
    sent = client.send_otp(PHONE, otp="4829")
    raw = requests.get(
        f"{emulator.url}/API/V1/{emulator.api_key}/SMS/VERIFY/{sent.session_id}/0000", timeout=5
    )
    assert raw.json()["Details"] == "OTP Mismatch"
    result = client.verify_otp("4829", session_id=sent.session_id)
    assert result.matched


def test_reference_success_shape_status_error_otp_matched(emulator, client):
    # the reference's own example: HTTP 200, "Status": "Error", "Details": "OTP Matched"
    emulator.inject(
        "status",
        times=1,
        status=200,
        body='{"Status":"Error","Details":"OTP Matched"}',
        content_type="application/json",
    )
    assert client.verify_otp("123456", session_id="ab88279e-0105-415f-912e-2f24162b8cbb")


def test_sandbox_dummy_session(emulator, client):
    assert client.verify_otp("12345", session_id="Dummy-12345").matched
    assert not client.verify_otp("54321", session_id="Dummy-12345")


def test_verify2_always_mismatches(emulator, client):
    sent = client.send_otp(PHONE, otp="482913")
    result = client.verify_otp_sandbox("482913", session_id=sent.session_id)
    assert result.outcome is VerificationOutcome.MISMATCH
    assert paths(emulator, 2)[-1].startswith("/API/V1/<redacted>/SMS/VERIFY2/")
    # VERIFY2 did not consume the session
    assert client.verify_otp("482913", session_id=sent.session_id)


def test_verification_truthiness_and_round_trip():
    for outcome in VerificationOutcome:
        v = Verification(outcome, "x")
        assert bool(v) is (outcome is VerificationOutcome.MATCHED)
        assert Verification.from_dict(v.to_dict()) == v


def test_verify_with_bad_key_raises(emulator, make_client):
    stranger = make_client(api_key="11111111-aaaa-bbbb-cccc-000000000000")
    with pytest.raises(AuthenticationError):
        stranger.verify_otp("123456", phone=PHONE)
    assert len(wait_for_requests(emulator, 1, grace=0.05)) == 1


def test_closed_client_refuses(emulator, client):
    client.close()
    with pytest.raises(Exception, match="closed"):
        client.send_otp(PHONE)
    assert emulator.requests == []


def test_client_repr_and_bad_configuration(emulator):
    c = TwoFactorClient(emulator.api_key, base_url=emulator.url)
    try:
        assert emulator.api_key not in repr(c)
    finally:
        c.close()
    with pytest.raises(Exception, match="api_key"):
        TwoFactorClient("short")
    with pytest.raises(Exception, match="base_url"):
        TwoFactorClient(emulator.api_key, base_url="ftp://x")
