"""Credentials.scrub: an echo of a key is redacted in any form the secret scanner knows.

The scanner (:mod:`tests.secret_scan`) decodes every Base64 run it finds; scrub() finds a
key in Base64 text by fixed searches instead. These tests hold the two to the same answer
for a key at any offset of any Base64 text, cut anywhere, in either alphabet.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twofactor_notify.credentials import Credentials

from ..secret_scan import find_secrets_in_text

API_KEY = "0f3c9a52-7b1e-4d8a-9c6f-2e5b8d1a4c70"
SECRET_KEY = "sk-Zq8+Lm/9xYw=Pt3"
KEYS = {"api key": API_KEY, "secret key": SECRET_KEY}
CREDENTIALS = Credentials(API_KEY, SECRET_KEY)


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(sorted(KEYS.values())),
    before=st.binary(max_size=40),
    after=st.binary(max_size=40),
    urlsafe=st.booleans(),
    strip=st.booleans(),
    cut=st.integers(min_value=0, max_value=6),
    around=st.sampled_from(["", "id ", '{"echo": "', "x=", "\n"]),
)
def test_a_key_inside_base64_text_is_redacted(
    key: str, before: bytes, after: bytes, urlsafe: bool, strip: bool, cut: int, around: str
) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    token = encode(before + key.encode() + after)[cut:]
    if strip:
        token = token.rstrip(b"=")
    answer = around.encode() + token + b'" and more text'
    # a cut into the key's own characters may leave too little of it to count as an echo
    assume(find_secrets_in_text(answer.decode(), KEYS))
    clean = CREDENTIALS.scrub(answer)
    assert find_secrets_in_text(clean.decode(), KEYS) == []
    assert clean.endswith(b'" and more text') and clean.startswith(around.encode())


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200))
def test_text_without_a_key_comes_back_unchanged(text: bytes) -> None:
    if not find_secrets_in_text(text.decode("latin-1"), KEYS):
        assert CREDENTIALS.scrub(text) == text


def test_a_long_base64_message_id_is_left_alone() -> None:
    ids = b",".join(base64.b64encode(bytes([n]) * 30) for n in range(50))
    assert CREDENTIALS.scrub(ids) == ids


def test_each_form_of_a_key_is_redacted() -> None:
    for key in KEYS.values():
        raw = key.encode()
        for form in (
            raw,
            quote(key, safe="").encode(),
            quote_plus(key).encode(),
            base64.b64encode(raw),
            base64.urlsafe_b64encode(raw).rstrip(b"="),
        ):
            clean = CREDENTIALS.scrub(b"echo: " + form + b".")
            assert find_secrets_in_text(clean.decode(), KEYS) == [], form
            assert clean.startswith(b"echo: <redacted>")
