"""Units without the network: phone numbers, validation, the codec (with hypothesis
properties) and the models' JSON round trip."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twofactor_notify import (
    AESCodec,
    BulkAccepted,
    BulkBatch,
    BulkChunkFailure,
    BulkMessage,
    BulkRejection,
    BulkResult,
    ClickReport,
    ConfigurationError,
    DecryptionError,
    DeliveryLookup,
    DeliveryReport,
    DeliveryStatus,
    InvalidInputError,
    InvalidPhoneNumberError,
    OTPError,
    OTPMessage,
    OTPSent,
    SMSMessage,
    SMSSent,
    Verification,
    VerificationOutcome,
    normalize_phone,
)
from twofactor_notify.codec import derive_key
from twofactor_notify.phone import bulk_form, r1_form, region_of, v1_path_form
from twofactor_notify.validation import (
    IST,
    format_schedule_time,
    validate_otp_code,
    validate_session_id,
    validate_template,
)

# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    "typed",
    [
        "9876543210",
        "+919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "091-9876543210",
        "0919876543210",
        "919876543210",
        "09876543210",
        "0091 98765 43210",
        "0091 9876543210",
        "(+91) 98765-43210",
        " 98765 43210 ",
    ],
)
def test_indian_forms(typed):
    assert normalize_phone(typed) == "+919876543210"


def test_forms_per_endpoint():
    e164 = normalize_phone("9876543210")
    assert (v1_path_form(e164), r1_form(e164), bulk_form(e164)) == (
        "9876543210",
        "919876543210",
        "+919876543210",
    )
    us = normalize_phone("+1 415 555 2671")
    assert (v1_path_form(us), r1_form(us), region_of(us)) == ("14155552671", "14155552671", "US")
    assert normalize_phone("415 555 2671", region="US") == us


@pytest.mark.parametrize(
    "bad", ["", "   ", "12345", "abcdefghij", "+91 00000 67890", "98765432101234567", "9" * 40, "+"]
)
def test_invalid_numbers(bad):
    with pytest.raises(InvalidPhoneNumberError) as caught:
        normalize_phone(bad)
    assert caught.value.field == "phone"


def test_non_string_and_allowed_regions():
    with pytest.raises(InvalidPhoneNumberError):
        normalize_phone(9876543210)  # type: ignore[arg-type]
    with pytest.raises(InvalidPhoneNumberError):
        normalize_phone("+1 415 555 2671", allowed_regions=["IN"])
    assert normalize_phone("+1 415 555 2671", allowed_regions=["in", "us"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_normalize_phone_raises_only_invalid_phone(text):
    try:
        result = normalize_phone(text)
    except InvalidPhoneNumberError:
        return
    assert result.startswith("+") and result[1:].isdigit()
    assert normalize_phone(result) == result  # idempotent


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789 +-()", max_size=20))
def test_normalize_phone_digit_soup(text):
    with contextlib.suppress(InvalidPhoneNumberError):
        assert normalize_phone(text).startswith("+")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("code", ["1234", "12345", "123456"])
def test_valid_otps(code):
    assert validate_otp_code(code) == code.strip()


@pytest.mark.parametrize(
    "code",
    [
        *["123", "1234567", "12a4", "", "../1", "\uff11\uff12\uff13\uff14", 1234, None, "12 34"],
        *[" 1234 ", "1234\n"],  # never trimmed
    ],
)
def test_invalid_otps(code):
    with pytest.raises(OTPError):
        validate_otp_code(code)


@pytest.mark.parametrize(
    "sid", ["..", ".", "a/b", "a%2Fb", "a b", "", "-abc", "a" * 129, "abc\n", None]
)
def test_invalid_session_ids(sid):
    with pytest.raises(InvalidInputError):
        validate_session_id(sid)


@pytest.mark.parametrize("name", ["a/b", "..", "x%2F", "", " lead", "a" * 65, "a?b"])
def test_invalid_templates(name):
    with pytest.raises(InvalidInputError):
        validate_template(name)


def test_schedule_time_boundaries():
    now = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)  # 11:30 IST
    assert format_schedule_time(now + timedelta(minutes=5), now=now) == "2025-01-01 11:35:00"
    with pytest.raises(InvalidInputError):
        format_schedule_time(now + timedelta(minutes=4, seconds=59), now=now)
    naive_ist = datetime(2025, 1, 1, 11, 40)
    assert format_schedule_time(naive_ist, now=now) == "2025-01-01 11:40:00"
    other_zone = datetime(2025, 1, 1, 1, 0, tzinfo=IST) + timedelta(hours=12)
    assert format_schedule_time(other_zone, now=now) == "2025-01-01 13:00:00"


# --------------------------------------------------------------------------- codec


@settings(max_examples=60, deadline=None)
@given(
    # what 2Factor's encrypted endpoints carry: JSON, i.e. UTF-8 text (CBC insists on it)
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=2000),
    mode=st.sampled_from(["GCM", "CBC"]),
    key=st.text(min_size=1, max_size=80),
)
def test_codec_round_trip(text, mode, key):
    codec = AESCodec(key, mode)
    payload = text.encode("utf-8")
    token = codec.encrypt(payload)
    assert token.isascii()
    assert codec.decrypt(token) == payload


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_codec_wrong_key_and_tampering(mode):
    codec = AESCodec("the-right-secret-key", mode)
    token = codec.encrypt(b'{"Status":"Success","Details":"abc"}')
    other = AESCodec("another-secret-key!!", mode)
    with pytest.raises(DecryptionError):
        other.decrypt(token)
    with pytest.raises(DecryptionError):
        codec.decrypt("not base64 ***")
    with pytest.raises(DecryptionError):
        codec.decrypt("QUJD")  # too short
    if mode == "GCM":
        import base64

        raw = bytearray(base64.b64decode(token))
        raw[-1] ^= 1
        with pytest.raises(DecryptionError):
            codec.decrypt(base64.b64encode(bytes(raw)).decode())
    assert "the-right-secret-key" not in repr(codec)


@pytest.mark.parametrize("mode", ["GCM", "CBC"])
def test_a_wrong_key_is_refused_every_time(mode):
    # CBC's padding check alone lets about one wrong key in 256 through, with garbage
    token = AESCodec("the-right-secret-key", mode).encrypt(b'{"Status":"Success","Details":"abc"}')
    let_through = []
    for n in range(3000):
        try:
            AESCodec(f"wrong-secret-key-{n}", mode).decrypt(token)
        except DecryptionError:
            continue
        let_through.append(n)
    assert let_through == []


def test_codec_modes_differ_and_key_derivation():
    gcm, cbc = AESCodec("k" * 32, "GCM"), AESCodec("k" * 32, "CBC")
    token = gcm.encrypt(b"hello")
    with pytest.raises(DecryptionError):
        cbc.decrypt(token)
    assert derive_key("k" * 32) == b"k" * 32
    assert derive_key("ab" * 32) == bytes.fromhex("ab" * 32)
    assert len(derive_key("short")) == 32
    with pytest.raises(ConfigurationError):
        derive_key("")
    with pytest.raises(ConfigurationError):
        AESCodec("key", "ECB")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- models


NOW = datetime(2025, 11, 24, 19, 43, 6, tzinfo=IST)
MODELS = [
    OTPMessage(
        to="+919876543210",
        template="Login",
        otp="4829",
        length=4,
        metadata={"user": 7, "tags": ["a"]},
    ),
    OTPMessage(to="+919876543210", include_otp=True),
    SMSMessage(
        to=("+919876543210", "+919123456780"),
        text="hi",
        sender="TFACTR",
        schedule_at=NOW,
        pe_id="1",
        ct_id="2",
        campaign_name="c",
        campaign_webhook="https://x.example/c",
        shorten_urls=True,
        shorten_url_webhook="https://x.example/s",
        shorten_url_callback="v",
    ),
    BulkMessage(
        to="+919876543210", text="x", sender="TFACTR", callback_value1="a", callback_format="json"
    ),
    BulkBatch(messages=(BulkMessage(to="+919876543210", text="x", sender="TFACTR"),) * 2),
    OTPSent(session_id="s", to="+919876543210", otp="123456"),
    SMSSent(message_id="m", to=("+919876543210",)),
    BulkResult(
        accepted=(BulkAccepted(index=0, message_id="r-1", to="+919876543210"),),
        rejected=(BulkRejection(index=1, to="+1", reason="format"),),
        failed_chunks=(
            BulkChunkFailure(
                start=2, count=3, error="ServerError", message="m", outcome_unknown=True
            ),
        ),
        request_ids=("r",),
    ),
    Verification(VerificationOutcome.EXPIRED, "OTP Expired"),
    DeliveryReport(
        message_id="m",
        status=DeliveryStatus.DLT_HEADER_REJECT,
        to="+9198",
        sender="TFACTR",
        sent_at=NOW,
        status_at=NOW,
        callback_value1="v",
        raw_status="DLT-HEADER-REJECT",
    ),
    ClickReport(phone="+919876543210", campaign_name="c", accessed_at=NOW, ip="1.2.3.4"),
    DeliveryLookup(
        found=True,
        details="1 record",
        status=DeliveryStatus.DELIVERED,
        sent_at=datetime(2024, 1, 18, 19, 25, 41),
        delivered_at=datetime(2024, 1, 18, 19, 42, 33),
    ),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_models_round_trip_through_json(model):
    data = json.loads(json.dumps(model.to_dict()))
    assert data["kind"] == type(model).kind
    again = type(model).from_dict(data)
    assert again == model
    assert type(again) is type(model)
    if hasattr(model, "metadata"):
        assert again.metadata == model.metadata


def test_secret_fields_are_not_in_reprs():
    assert "4829" not in repr(MODELS[0])
    assert "123456" not in repr(MODELS[5])


def test_model_details():
    assert SMSMessage(to="+919876543210,+919123456780", text="x", sender="S").to == (
        "+919876543210",
        "+919123456780",
    )
    assert SMSMessage(to=["+919876543210"], text="x", sender="S").recipients == ("+919876543210",)
    assert BulkBatch(messages=(BulkMessage(to="a", text="x", sender="S"),)).recipients == ("a",)
    result = MODELS[7]
    assert result.total == 5 and not result.ok
    assert BulkResult().ok
    assert DeliveryStatus.parse("dlt_cnt_reject") is DeliveryStatus.DLT_CNT_REJECT
    assert DeliveryStatus.parse("") is DeliveryStatus.OTHER
    assert not DeliveryStatus.PENDING.final and DeliveryStatus.FAILED.final
    report = MODELS[9]
    assert report.dedupe_key == "m:+9198:DLT-HEADER-REJECT"
    assert date(2025, 11, 24) == report.sent_at.date()


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("+91 1800 180 1111", "toll-free"),
        ("+91 1861 123456789", "premium-rate"),
        ("+44 9012 345678", "premium-rate"),
        ("+44 7640 123456", "pager"),
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused(number, kind):
    with pytest.raises(InvalidPhoneNumberError) as info:
        normalize_phone(number)
    assert kind in info.value.message
    assert info.value.field == "phone"
