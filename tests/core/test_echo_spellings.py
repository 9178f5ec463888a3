"""A key a server or a proxy gives back, in whatever spelling, reaches nothing the caller holds.

A small HTTP/1.1 server (kept-alive connections, as 2Factor's are) answers every request by
repeating it back: the request line, headers and body, in the JSON ``Details`` or as plain
text, and the request line in an ``X-Echo-Path`` header. Hypothesis chooses how the echo is
spelled: the case changed, percent-escapes (every byte or some, hex digits in either case,
once or twice), JSON ``\\uXXXX`` escapes, HTML character references, hex, Base64, line breaks
inside it (not inside Base64), and the whole body in UTF-8 or UTF-16 (either byte order, with
or without a BOM); and which public method runs (every method of the client and the
transports that makes a request, found by running each once), with which keys. The calls
that carry an OTP of the caller's (every verification, every send given an ``otp``) are
run again with the OTP searched for as well.

The raw answer is first searched by :mod:`tests.secret_scan` (it must hold a key: a guard on
the guard); then the raised error (its text, attributes, chain and frames), the result of
the call, and the client or transport itself (its session, pool and kept-alive connections)
must hold none.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import inspect
import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twofactor_notify import TwoFactorClient, TwoFactorError

from ..secret_scan import find_secrets, find_secrets_in_text, summarise
from .test_secrets_at_the_boundary import CALLS, OTP, VALUES, Call, _arguments, _target

#: How a spelling rewrites the echoed text.
Spell = Callable[[str], str]


@dataclass
class Answer:
    """How the server answers: the echo's spelling, and the body's shape and encoding."""

    spell: Spell
    status: int = 400
    shape: str = "json"  # "json" or "text"
    encoding: str = "utf-8"
    json_escapes: float = 0.0  # share of the Details characters sent as \\uXXXX
    seed: int = 0


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = Answer(spell=lambda text: text)
        self.requests = 0
        self.sent: list[bytes] = []  # the raw answers, headers included
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections are kept alive and pooled by the client
    server: EchoServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        head = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items())]
        text = "\r\n".join(head) + "\r\n\r\n" + body.decode("utf-8", "replace")
        answer = self.server.answer
        spelled = answer.spell(text)
        line = answer.spell(self.requestline)
        if answer.shape == "json":
            payload = (
                '{"Status":"Error","Details":"upstream said: '
                + _json_string(spelled, answer.json_escapes, answer.seed)
                + '"}'
            )
        else:
            payload = "upstream said: " + spelled
        data = payload.encode(answer.encoding, "surrogatepass")
        # a header is one line: a line break in the spelling becomes an obsolete fold
        header = line.replace("\r\n", "\n").replace("\n", "\r\n ")
        header = header.encode("latin-1", "replace").decode("latin-1")
        kind = "application/json" if answer.shape == "json" else "text/plain"
        self.send_response(answer.status)
        self.send_header("Content-Type", f"{kind}; charset={answer.encoding}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Echo-Path", header)
        with self.server.lock:  # before the answer goes: the client may look at once
            self.server.requests += 1
            self.server.sent += [header.encode("latin-1"), b"\n", data]
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _echo


def _json_string(text: str, share: float, seed: int) -> str:
    """``text`` as the inside of a JSON string, ``share`` of its characters as ``\\uXXXX``."""
    rng = random.Random(seed)
    out = []
    for char in text:
        if rng.random() < share or char in '"\\' or ord(char) < 0x20:
            if ord(char) > 0xFFFF:
                out.append(json.dumps(char)[1:-1])
            else:
                out.append(f"\\u{ord(char):04{'x' if rng.random() < 0.5 else 'X'}}")
        else:
            out.append(char)
    return "".join(out)


# ------------------------------------------------------------------ the spellings


def _case(mode: str) -> Spell:
    return {"lower": str.lower, "upper": str.upper, "swap": str.swapcase}[mode]


def _percent(share: float, upper: bool, seed: int, twice: bool) -> Spell:
    def spell(text: str) -> str:
        rng = random.Random(seed)
        digits = "%{:02X}" if upper else "%{:02x}"
        out = []
        for byte in text.encode("utf-8", "surrogatepass"):
            if rng.random() < share or byte == 0x25:  # "%" itself is always escaped
                escape = digits.format(byte)
                out.append(escape.replace("%", "%25", 1) if twice else escape)
            else:
                out.append(chr(byte) if byte < 0x80 else digits.format(byte))
        return "".join(out)

    return spell


def _html(share: float, seed: int) -> Spell:
    def spell(text: str) -> str:
        rng = random.Random(seed)
        return "".join(
            (f"&#{ord(c)};" if rng.random() < 0.5 else f"&#x{ord(c):x};")
            if rng.random() < share or c == "&"  # "&" itself is always escaped
            else c
            for c in text
        )

    return spell


def _hex(upper: bool) -> Spell:
    def spell(text: str) -> str:
        encoded = text.encode("utf-8", "surrogatepass").hex()
        return encoded.upper() if upper else encoded

    return spell


def _base64(alphabet: str, padded: bool) -> Spell:
    def spell(text: str) -> str:
        raw = text.encode("utf-8", "surrogatepass")
        encoded = (base64.urlsafe_b64encode if alphabet == "url" else base64.b64encode)(raw)
        out = encoded.decode("ascii")
        return out if padded else out.rstrip("=")

    return spell


def _split(every: int, breaker: str) -> Spell:
    def spell(text: str) -> str:
        return breaker.join(text[i : i + every] for i in range(0, len(text), every))

    return spell


def _then(first: Spell, second: Spell) -> Spell:
    return lambda text: second(first(text))


def _same(text: str) -> str:
    return text


#: What a server may do to the text itself: change its case, or hex-encode it.
INNER: st.SearchStrategy[Spell] = st.one_of(
    st.just(_same),
    st.builds(_case, st.sampled_from(["lower", "upper", "swap"])),
    st.builds(_hex, st.booleans()),
)
#: Or Base64-encode it, either alphabet, padded or not (the offsets of the keys and of the
#: OTP in the echoed text vary with the call and the keys' lengths, so every alignment comes
#: up). Not split into lines: a Base64 run broken by line breaks is not searched.
BASE64 = st.builds(_base64, st.sampled_from(["standard", "url"]), st.booleans())
#: Where it may break it into lines.
BREAKS: st.SearchStrategy[Spell] = st.one_of(
    st.just(_same),
    st.builds(_split, st.integers(3, 17), st.sampled_from(["\r\n", "\n"])),
)
#: How it may then escape it (percent, HTML), once or twice over.
ESCAPES: st.SearchStrategy[Spell] = st.one_of(
    st.just(_same),
    st.builds(
        _percent,
        st.sampled_from([1.0, 0.5, 0.1]),
        st.booleans(),
        st.integers(0, 2**16),
        st.booleans(),
    ),
    st.builds(_html, st.sampled_from([1.0, 0.3]), st.integers(0, 2**16)),
)
SPELLINGS = st.one_of(
    st.builds(lambda *spells: functools.reduce(_then, spells), INNER, BREAKS, ESCAPES, ESCAPES),
    st.builds(lambda *spells: functools.reduce(_then, spells), BASE64, ESCAPES, ESCAPES),
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-16-be"])
API_KEYS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{15,39}", fullmatch=True)
SECRET_KEYS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=16, max_size=40
)


# ------------------------------------------------------------------ the calls


@contextlib.contextmanager
def serving() -> Iterator[EchoServer]:
    """An :class:`EchoServer` answering from a thread of its own; shut and closed after."""
    echo = EchoServer()
    thread = threading.Thread(target=echo.serve_forever, daemon=True)
    thread.start()
    try:
        yield echo
    finally:
        echo.shutdown()
        echo.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with serving() as echo:
        yield echo


def _client(url: str, api_key: str, secret_key: str) -> TwoFactorClient:
    return TwoFactorClient(
        api_key, base_url=url, secret_key=secret_key, timeout=10.0, connect_retries=0
    )


def _invoke(target: Any, call: Call) -> tuple[Any, BaseException | None]:
    """Run the call (consuming an iterator it returns): its result, or the error it raised."""
    method = getattr(target, call.method)
    chosen = call.chosen or None
    values = {**VALUES, "otp": OTP} if "otp" in call.chosen else VALUES
    args, kwargs = _arguments(method.__func__, chosen, str(call), values)
    try:
        result = method(*args, **kwargs)
        if isinstance(result, Iterator):
            result = list(result)
    except BaseException as exc:
        return None, exc
    return result, None


@pytest.fixture(scope="module")
def network_calls(server: EchoServer) -> list[Call]:
    """The public calls that make a request: each is run once and the server counts."""
    found = []
    for call in CALLS:
        before = server.requests
        with _client(server.url, "discovery-key-0123456789", "discovery-secret-0123") as client:
            _invoke(_target(call, client), call)
        if server.requests > before:
            found.append(call)
    return found


def _parameters(call: Call) -> set[str]:
    return set(inspect.signature(getattr(call.owner, call.method)).parameters)


@pytest.fixture(scope="module")
def otp_calls(network_calls: list[Call]) -> list[Call]:
    """The calls that put an OTP of the caller's on the wire: every verification (its
    ``code``), and every send that takes an ``otp`` of its own, made with one."""
    found = [c for c in network_calls if "code" in _parameters(c)]
    found += [
        Call(c.owner, c.method, c.chosen | {"otp"})
        for c in network_calls
        if "otp" in _parameters(c)
    ]
    return found


def test_the_calls_that_carry_an_otp_are_found(otp_calls: list[Call]) -> None:
    names = {str(c) for c in otp_calls}
    assert {
        "TwoFactorClient.verify_otp[phone]",
        "TwoFactorClient.verify_otp[session_id]",
        "TwoFactorClient.verify_otp_sandbox",
        "TwoFactorClient.send_otp[otp]",
        "TwoFactorTransport.send_otp[otp]",
    } <= names, names


def test_the_calls_that_make_a_request_are_found(network_calls: list[Call]) -> None:
    names = {str(c) for c in network_calls}
    assert {"TwoFactorClient.send_otp", "TwoFactorTransport.send_sms"} <= names
    assert "TwoFactorClient.lookup_delivery" in names  # the encrypted endpoints too
    assert not any(n.startswith("InMemoryTransport.") for n in names)


#: Every way the echo server answers: spelling, status, body shape, encoding, escapes.
ANSWERS = st.builds(
    Answer,
    spell=SPELLINGS,
    status=st.sampled_from([400, 502, 200]),
    shape=st.sampled_from(["json", "text"]),
    encoding=ENCODINGS,
    json_escapes=st.sampled_from([0.0, 0.2, 1.0]),
    seed=st.integers(0, 2**16),
)
#: Both echo tests: a function-scoped server is reused across examples on purpose.
echo_settings = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@echo_settings
@given(data=st.data(), answer=ANSWERS, api_key=API_KEYS, secret_key=SECRET_KEYS)
def test_an_echo_in_any_spelling_reaches_nothing_the_caller_holds(
    server: EchoServer,
    network_calls: list[Call],
    data: st.DataObject,
    answer: Answer,
    api_key: str,
    secret_key: str,
) -> None:
    call = data.draw(st.sampled_from(network_calls), label="call")
    _check_the_echo(server, call, answer, {"API key": api_key, "Secret-Key": secret_key})


@echo_settings
@given(data=st.data(), answer=ANSWERS, api_key=API_KEYS)
def test_an_echoed_otp_in_any_spelling_reaches_nothing_the_caller_holds(
    server: EchoServer,
    otp_calls: list[Call],
    data: st.DataObject,
    answer: Answer,
    api_key: str,
) -> None:
    """The OTP a call verifies or sends is searched for too, in every spelling the keys are
    (the server echoes the path it sits in)."""
    call = data.draw(st.sampled_from(otp_calls), label="call")
    secrets = {"API key": api_key, "Secret-Key": "otp-test-secret-key", "OTP": OTP}
    _check_the_echo(server, call, answer, secrets, must_echo="OTP")


def _check_the_echo(
    server: EchoServer,
    call: Call,
    answer: Answer,
    secrets: dict[str, str],
    must_echo: str | None = None,
) -> None:
    """Make ``call`` against the echo answering ``answer``: nothing reached holds a secret."""
    server.answer = answer
    api_key, secret_key = secrets["API key"], secrets["Secret-Key"]
    with server.lock:
        server.sent.clear()
    with _client(server.url, api_key, secret_key) as client:
        target = _target(call, client)
        result, error = _invoke(target, call)
        with server.lock:
            sent = b"".join(server.sent)
        # the guard on the guard: the answer did carry a key, in a spelling the scan knows
        assert find_secrets_in_text(sent.decode("latin-1"), secrets), sent[:300]
        if must_echo is not None:
            shown = {must_echo: secrets[must_echo]}
            assert find_secrets_in_text(sent.decode("latin-1"), shown), sent[:300]
        findings = find_secrets(
            error or RuntimeError("no error"),
            secrets,
            stop=_invoke.__code__,
            also={"target": target, "result": result},
        )
    assert not findings, f"{call} ({error!r}):\n{summarise(findings)}"
    if error is not None:
        assert isinstance(error, TwoFactorError), f"{call} raised {error!r}"
