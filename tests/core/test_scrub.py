"""Credentials.scrub: an echo of a key is redacted in any form the secret scanner knows.

The scanner (:mod:`tests.secret_scan`) decodes every Base64 run it finds; scrub() finds a
key in Base64 text by fixed searches instead. These tests hold the two to the same answer
for a key at any offset of any Base64 text, cut anywhere, in either alphabet.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

import pytest
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


def _percent(text: str, chars: str | None = None, digits: str = "%{:02x}") -> str:
    return "".join(
        digits.format(b) if chars is None or chr(b) in chars else chr(b) for b in text.encode()
    )


def _json_u(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _nested(char: str) -> str:
    """``char`` as an HTML hex reference whose last digit is a JSON escape."""
    digits = f"{ord(char):02x}"
    return f"&#x{digits[:-1]}{_json_u(digits[-1])};"


#: One example of every spelling docs/security.md lists, for each key.
SPELLINGS = {
    "another case": lambda k: k.swapcase(),
    "every byte percent-encoded, lower-case hex": lambda k: _percent(k),
    "every byte percent-encoded, upper-case hex": lambda k: _percent(k, None, "%{:02X}"),
    "only '-' percent-encoded": lambda k: _percent(k, "-"),
    "percent-encoded twice": lambda k: _percent(k).replace("%", "%25"),
    "form-encoded": lambda k: quote_plus(k),
    "JSON \\u escapes": _json_u,
    "JSON \\x escapes": lambda k: "".join(f"\\x{ord(c):02X}" for c in k),
    'JSON \\" \\\\ \\/': lambda k: k.replace("\\", "\\\\").replace('"', '\\"').replace("/", "\\/"),
    "HTML decimal references": lambda k: "".join(f"&#{ord(c)};" for c in k),
    "HTML hex references": lambda k: "".join(f"&#x{ord(c):X};" for c in k),
    "an escape inside another": lambda k: "".join(_nested(c) for c in k),
    "split by CRLF": lambda k: k[:5] + "\r\n" + k[5:],
    "split by JSON's \\n": lambda k: k[:5] + "\\n" + k[5:11] + "\\r\\n" + k[11:],
    "split by %0A": lambda k: k[:7] + "%0A" + k[7:],
    "hex, lower case": lambda k: k.encode().hex(),
    "hex, upper case": lambda k: k.encode().hex().upper(),
}
ENCODINGS = ("utf-8", "utf-16", "utf-16-le", "utf-16-be")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
@pytest.mark.parametrize("key", sorted(KEYS.values()))
def test_each_documented_spelling_is_found_and_redacted(
    key: str, spelling: str, encoding: str
) -> None:
    text = '{"Status":"Error","Details":"upstream said: ' + SPELLINGS[spelling](key) + ' (end)"}'
    answer = text.encode(encoding)
    assert find_secrets_in_text(answer.decode("latin-1"), KEYS), "the scan must see it"
    assert CREDENTIALS.echoes(answer)
    clean = CREDENTIALS.scrub(answer)
    assert find_secrets_in_text(clean.decode("latin-1"), KEYS) == []
    assert b"\0" not in clean  # a UTF-16 answer comes back as UTF-8
    if clean != b"<redacted>":
        assert clean.startswith(b'{"Status":"Error","Details":"upstream said: ')
        assert clean.endswith(b' (end)"}')


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_each_placeable_spelling_keeps_the_rest_of_the_answer(spelling: str) -> None:
    """Only the key goes, for every spelling but an escape inside another (not placeable:
    the whole answer goes)."""
    clean = CREDENTIALS.scrub(b"before " + SPELLINGS[spelling](API_KEY).encode() + b" after")
    if spelling == "an escape inside another":
        assert clean == b"<redacted>"
    else:
        assert clean == b"before <redacted> after"


def test_an_answer_without_a_key_is_left_as_it_is_in_every_encoding() -> None:
    for encoding in ENCODINGS:
        answer = '{"Status":"Success","Details":"%41 &#65; \\u0041 ABCD"}'.encode(encoding)
        assert not CREDENTIALS.echoes(answer)
        assert CREDENTIALS.scrub(answer) is answer
