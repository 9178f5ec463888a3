"""The envelope: lossless JSON for every message kind, versioned, with a key."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twofactor_notify import models
from twofactor_notify.background import ENVELOPE_VERSION, Envelope, EnvelopeError, new_key
from twofactor_notify.models import BulkBatch, BulkMessage, OTPMessage, SMSMessage

text = st.text(max_size=40)
optional_text = st.none() | text
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_data = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
metadata = st.dictionaries(text, json_data, max_size=3)
moments = st.datetimes(
    timezones=st.none() | st.just(UTC) | st.just(timezone(timedelta(hours=5, minutes=30)))
)
keys = st.text(alphabet=string.ascii_letters + string.digits + "-_:.", min_size=1, max_size=200)

otp_messages = st.builds(
    OTPMessage,
    to=text,
    template=optional_text,
    otp=optional_text,
    length=st.integers(),
    include_otp=st.booleans(),
    metadata=metadata,
)
sms_messages = st.builds(
    SMSMessage,
    to=st.lists(text.filter(lambda t: "," not in t and t.strip()), min_size=1, max_size=4).map(
        tuple
    ),
    text=text,
    sender=text,
    promotional=st.booleans(),
    schedule_at=st.none() | moments,
    pe_id=optional_text,
    ct_id=optional_text,
    campaign_name=optional_text,
    campaign_webhook=optional_text,
    shorten_urls=st.booleans(),
    shorten_url_webhook=optional_text,
    shorten_url_callback=optional_text,
    metadata=metadata,
)
bulk_batches = st.builds(
    BulkBatch,
    messages=st.lists(
        st.builds(
            BulkMessage,
            to=text,
            text=text,
            sender=text,
            callback_value1=optional_text,
            callback_value2=optional_text,
            callback_format=optional_text,
        ),
        min_size=1,
        max_size=5,
    ).map(tuple),
    metadata=metadata,
)


def _queueable_kinds() -> set[str]:
    """Every message type of ``models.Message`` (discovered, so a new kind is covered)."""
    return {cls.kind for cls in models.Message.__args__}  # type: ignore[attr-defined]


def test_the_strategies_cover_every_message_kind() -> None:
    assert _queueable_kinds() == {OTPMessage.kind, SMSMessage.kind, BulkBatch.kind}


@settings(max_examples=300, deadline=None)
@given(message=otp_messages | sms_messages | bulk_batches, key=st.none() | keys, when=moments)
def test_every_message_round_trips_through_json_unchanged(
    message: Any, key: str | None, when: datetime
) -> None:
    envelope = Envelope.wrap(message, key=key, queued_at=when)
    back = Envelope.from_json(envelope.to_json())
    assert back == envelope
    assert back.message == message
    assert type(back.message) is type(message)
    assert getattr(back.message, "metadata", {}) == getattr(message, "metadata", {})
    assert back.queued_at == when and back.queued_at.tzinfo == when.tzinfo
    assert back.version == ENVELOPE_VERSION
    if key is not None:
        assert back.key == key
    # the JSON document is what the docs show
    data = json.loads(envelope.to_json())
    assert set(data) == {"v", "key", "queued_at", "message"}
    assert data["message"]["kind"] == message.kind


def test_a_key_is_generated_when_none_is_given_and_differs_each_time() -> None:
    message = SMSMessage(to="+919876543210", text="hi", sender="TFACTR")
    first, second = Envelope.wrap(message), Envelope.wrap(message)
    assert first.key != second.key
    assert len(new_key()) == 32


def test_repr_shows_the_key_not_the_content() -> None:
    envelope = Envelope.wrap(OTPMessage(to="+919876543210", otp="482913"), key="login-1")
    assert "482913" not in repr(envelope)
    assert "+919876543210" not in repr(envelope)
    assert "login-1" in repr(envelope)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"v": 2, "key": "k", "queued_at": "2026-01-01T00:00:00", "message": {"kind": "sms"}}, "v"),
        ({"v": True, "key": "k", "queued_at": "2026-01-01T00:00:00", "message": {}}, "v"),
        ({"key": "k", "queued_at": "2026-01-01T00:00:00", "message": {}}, "v"),
        ({"v": 1, "key": "a b", "queued_at": "2026-01-01T00:00:00", "message": {}}, "key"),
        ({"v": 1, "key": "", "queued_at": "2026-01-01T00:00:00", "message": {}}, "key"),
        ({"v": 1, "key": "x" * 201, "queued_at": "2026-01-01T00:00:00", "message": {}}, "key"),
        ({"v": 1, "key": 5, "queued_at": "2026-01-01T00:00:00", "message": {}}, "key"),
        ({"v": 1, "key": "k", "queued_at": "yesterday", "message": {}}, "queued_at"),
        ({"v": 1, "key": "k", "queued_at": None, "message": {}}, "queued_at"),
        (
            {
                "v": 1,
                "key": "k",
                "queued_at": "2026-01-01T00:00:00",
                "message": {"kind": "otp_sent"},
            },
            "message",
        ),
        ({"v": 1, "key": "k", "queued_at": "2026-01-01T00:00:00", "message": []}, "message"),
        (
            {"v": 1, "key": "k", "queued_at": "2026-01-01T00:00:00", "message": {"kind": "otp"}},
            "message",
        ),
    ],
)
def test_a_bad_envelope_is_refused_naming_the_part(data: dict[str, Any], field: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        Envelope.from_dict(data)
    assert info.value.field == field


@pytest.mark.parametrize("text", ["not json", "[1, 2]", "{" * 5000, b"\xff"])
def test_text_that_is_not_an_envelope_is_refused(text: str | bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.from_json(text)


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1: "a"}, float("nan"), float("inf"), object(), {"a": {1, 2}}, b"bytes"],
)
def test_metadata_that_json_would_change_is_refused_when_queued(value: Any) -> None:
    message = SMSMessage(to="+919876543210", text="hi", sender="TFACTR", metadata={"x": value})
    with pytest.raises(EnvelopeError) as info:
        Envelope.wrap(message)
    assert info.value.field == "metadata"


def test_a_bulk_batch_over_one_request_or_empty_is_refused() -> None:
    one = BulkMessage(to="+919876543210", text="hi", sender="TFACTR")
    with pytest.raises(EnvelopeError):
        Envelope.wrap(BulkBatch(messages=(one,) * 1001))
    with pytest.raises(EnvelopeError):
        Envelope.wrap(BulkBatch(messages=()))
    assert len(Envelope.wrap(BulkBatch(messages=(one,) * 1000)).message.messages) == 1000


@pytest.mark.parametrize("key", ["a b", "", "é", "x" * 201, "line\n"])
def test_a_bad_caller_key_is_refused(key: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        Envelope.wrap(SMSMessage(to="+919876543210", text="hi", sender="TFACTR"), key=key)
    assert info.value.field == "key"


def test_an_unqueueable_object_is_refused() -> None:
    with pytest.raises(EnvelopeError):
        Envelope.wrap(BulkMessage(to="+919876543210", text="hi", sender="TFACTR"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "chunk", "longest"), [(1, 1000, 200 - 2), (11, 1, 200 - 3), (2500, 1000, 200 - 2)]
)
def test_a_bulk_key_must_leave_room_for_its_batch_suffix(
    count: int, chunk: int, longest: int
) -> None:
    from twofactor_notify.bulk import background_batches

    messages = [{"to": "+919876543210", "text": f"m{i}", "sender": "TFACTR"} for i in range(count)]
    batches = background_batches(messages, chunk, "k" * longest)
    assert max(len(key or "") for _, key in batches) <= 200
    with pytest.raises(EnvelopeError) as refused:
        background_batches(messages, chunk, "k" * (longest + 1))
    assert refused.value.field == "key"
    assert f"at most {longest} characters" in str(refused.value)


@pytest.mark.parametrize("key", [5, b"bytes-key", ["k"], ""])
def test_a_key_of_the_wrong_type_or_empty_is_refused_saying_so(key: object) -> None:
    from twofactor_notify.bulk import background_batches

    message = {"to": "+919876543210", "text": "m", "sender": "TFACTR"}
    with pytest.raises(EnvelopeError) as refused:
        background_batches([message], 1000, key)  # type: ignore[arg-type]
    assert refused.value.field == "key"
    if not isinstance(key, str):
        assert f"not a {type(key).__name__}" in str(refused.value)
    with pytest.raises(EnvelopeError):
        Envelope.wrap(models.SMSMessage(to=("+919876543210",), text="m", sender="T"), key=key)  # type: ignore[arg-type]
