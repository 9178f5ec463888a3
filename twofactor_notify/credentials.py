"""Where the keys live, and the one place they reach the wire.

A client's API key and Secret-Key are held by :class:`Credentials`, and nowhere else in the
library: requests are built with placeholders (:data:`API_KEY_PLACEHOLDER` in the V1 URL path
and in R1 form and JSON bodies, :data:`SECRET_KEY_PLACEHOLDER` in the ``Secret-Key`` header).
:class:`KeyPlacingAdapter` marks the request it hands to a requests ``HTTPAdapter`` for this
thread, and the keys are swapped in by ``http.client.HTTPConnection.send``, on the bytes
about to be written to the socket (for the encrypted endpoints, the adapter encrypts the
keyed body first, and the ciphertext travels as it is). urllib3, its connection pool,
``http.client``'s own debug output and whatever instruments ``putrequest`` (Sentry's stdlib
integration, which keeps a span with the URL on each pooled connection) see only the
placeholders. An adapter that is not an ``HTTPAdapter`` (a test double) gets a private
keyed copy of the request instead. Either way the response handed back carries the
placeholder request, and any echo of a key in it (a proxy or a server repeating the
request) is replaced by ``<redacted>``.

So no object above the socket (the client's frames, a prepared request, a response, an
error, a pooled connection) ever holds a key, and error reporters that record frames' local
variables (Sentry, Rollbar, Django's technical 500 page) have nothing to show.
:class:`Secret` keeps its value in a closure rather than in an attribute, so that
serialisers walking ``__dict__`` and ``__slots__`` do not reach it either; its ``repr``
and ``str`` are redacted and it cannot be pickled.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.auth import AuthBase

from .errors import ConfigurationError, TwoFactorError
from .redaction import REDACTED, _base64_cores, redact

__all__ = [
    "API_KEY_PLACEHOLDER",
    "SECRET_KEY_PLACEHOLDER",
    "Credentials",
    "KeyPlacingAdapter",
    "Secret",
    "install_key_placing_adapter",
    "reveal",
]

#: Stands for the API key in URLs and bodies until the wire layer swaps the key in. Letters,
#: digits and ``-`` only: it survives percent-, form- and JSON-encoding unchanged.
API_KEY_PLACEHOLDER = "twofactor-notify-api-key-placeholder"
#: Stands for the Secret-Key in the ``Secret-Key`` header until the wire layer.
SECRET_KEY_PLACEHOLDER = "twofactor-notify-secret-key-placeholder"  # noqa: S105 - not a key

_CREDENTIALS_ATTRIBUTE = "twofactor_credentials"
_SEAL_ATTRIBUTE = "twofactor_seal"
_REDACTED_BYTES = REDACTED.encode("ascii")
_API_KEY_PLACEHOLDER_BYTES = API_KEY_PLACEHOLDER.encode("ascii")
_SECRET_KEY_PLACEHOLDER_BYTES = SECRET_KEY_PLACEHOLDER.encode("ascii")


def _new_prepared_request() -> requests.PreparedRequest:
    wire: requests.PreparedRequest = requests.PreparedRequest.__new__(requests.PreparedRequest)
    return wire


class Secret:
    """A secret value (a key, a token, its bytes), kept out of reprs, pickles and walks.

    Configuration objects (:class:`~twofactor_notify.config.TransportOptions`, the Django
    app's settings, the Flask extension's config, a webhook receiver) hold their API key,
    Secret-Key and webhook token in one, so an error reporter that records a frame's locals,
    their reprs or their ``vars()`` shows ``<redacted>``. ``repr``, ``str`` and ``format``
    are redacted; the value is kept in a closure, not in an attribute, so serialisers walking
    ``__dict__`` and ``__slots__`` stop here; pickling raises; a copy is the same object;
    ``json.dumps`` refuses it. Two secrets are equal when their values are (compared in
    constant time), so configurations holding them still compare.

    >>> key = Secret("abcd-1234-secret")
    >>> key
    <redacted>
    >>> f"{key}"
    '<redacted>'
    >>> key.reveal()
    'abcd-1234-secret'
    >>> key == Secret("abcd-1234-secret")
    True
    """

    __slots__ = ("_reveal",)

    def __init__(self, value: Any) -> None:
        # A closure, not an attribute: serialisers walking __dict__/__slots__ stop here.
        self._reveal: Callable[[], Any] = lambda: value

    @classmethod
    def wrap(cls, value: object) -> Secret | None:
        """``value`` held in a :class:`Secret`: ``None`` and ``""`` give ``None``, a
        :class:`Secret` is returned as is."""
        if value is None or value == "":
            return None
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> Any:
        """The value itself: call this only where it is used (the wire, a cipher, a
        comparison)."""
        return self._reveal()

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self._reveal(), other._reveal()
        if isinstance(mine, str) and isinstance(theirs, str):
            return hmac.compare_digest(
                mine.encode("utf-8", "surrogatepass"), theirs.encode("utf-8", "surrogatepass")
            )
        if isinstance(mine, bytes) and isinstance(theirs, bytes):
            return hmac.compare_digest(mine, theirs)
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash((Secret, self._reveal()))

    def __copy__(self) -> Secret:
        return self  # immutable: a copy is the same holder, never the value

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled or copied out of the process")


def reveal(value: Secret | str | None) -> str | None:
    """The text a :class:`Secret` holds (a plain string or ``None`` is given back as is)."""
    if isinstance(value, Secret):
        return str(value.reveal())
    return value


class Credentials:
    """A client's API key and (optional) Secret-Key; see the module docstring.

    :param api_key: the account's API key.
    :param secret_key: the account's secret key, for the encrypted endpoints.
    """

    __slots__ = ("_api_key", "_api_key_forms", "_echoes", "_secret_key")

    def __init__(self, api_key: str | Secret, secret_key: str | Secret | None = None) -> None:
        # revealed once, here, to build the forms the wire layer needs; never kept bare
        api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        secret_key = Secret.wrap(secret_key)
        if secret_key is not None and (
            not isinstance(secret_key.reveal(), str)
            or not secret_key.reveal().isprintable()
            or not secret_key.reveal().isascii()
        ):
            raise ConfigurationError(
                "secret_key must be printable ASCII text (it travels in an HTTP header)"
            )
        self._api_key = api_key
        # the key as it goes into a V1 path and into a body: encoded once, not per request
        self._api_key_forms = Secret(
            (quote(api_key.reveal(), safe=""), api_key.reveal().encode("utf-8"))
        )
        self._secret_key = secret_key
        values = [s.reveal() for s in (api_key, secret_key) if s is not None and s.reveal()]
        # One search, built once: every fixed form a key can come back in (see _echo_forms).
        self._echoes = Secret(_echo_pattern(values))

    def __repr__(self) -> str:
        return f"Credentials(api_key={REDACTED}, secret_key={REDACTED})"

    @property
    def has_secret_key(self) -> bool:
        """True when a Secret-Key was given (the encrypted endpoints need one)."""
        return self._secret_key is not None

    def reveal_api_key(self) -> str:
        """The API key (for the redaction registry of the log filter)."""
        return str(self._api_key.reveal())

    def reveal_secret_key(self) -> str | None:
        """The Secret-Key, or ``None`` (for the codec and the redaction registry)."""
        return None if self._secret_key is None else str(self._secret_key.reveal())

    def auth(self, seal: Callable[[bytes], str] | None = None) -> AuthBase:
        """A requests ``auth=`` object marking a request for :class:`KeyPlacingAdapter`.

        :param seal: encrypts the body once the key is in it (the encrypted endpoints).
        """
        return _MarkForPlacing(self, seal)

    def place(
        self, request: requests.PreparedRequest, *, at_socket: bool = False
    ) -> requests.PreparedRequest:
        """A copy of ``request`` with the keys swapped in (and its body sealed, if asked).

        :param at_socket: leave the placeholders where they are (the socket layer,
            :meth:`place_in_bytes`, swaps them): only seal a body that asks for it, and give
            the ``Content-Length`` of the body as it will leave.
        """
        in_path, in_body = self._api_key_forms.reveal()
        # Built by hand rather than with copy() or PreparedRequest() (whose __init__ builds
        # hooks and a header dict that are replaced at once): only what an adapter reads,
        # and the headers are copied only when a value in them changes.
        wire = _new_prepared_request()
        wire.method = request.method
        url = request.url or ""
        wire.url = (
            url.replace(API_KEY_PLACEHOLDER, in_path)
            if API_KEY_PLACEHOLDER in url and not at_socket
            else url
        )
        wire.hooks = request.hooks
        wire._cookies = request._cookies  # type: ignore[attr-defined]
        wire._body_position = request._body_position  # type: ignore[attr-defined]
        headers = request.headers
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            seal = getattr(request, _SEAL_ATTRIBUTE, None)
            length = None
            if at_socket and seal is None:
                # the socket layer places the key: the length is that of the placed body
                grows = len(in_body) - len(_API_KEY_PLACEHOLDER_BYTES)
                length = len(body) + body.count(_API_KEY_PLACEHOLDER_BYTES) * grows
            else:
                body = body.replace(_API_KEY_PLACEHOLDER_BYTES, in_body)
            if seal is not None:
                sealed = self._seal(seal, body)
                if isinstance(sealed, TwoFactorError):
                    # leave with no local holding a key: reporters record this frame too
                    del in_path, in_body, body, url, wire
                    raise sealed
                body = sealed
            headers = headers.copy()
            headers["Content-Length"] = str(len(body) if length is None else length)
        if headers.get("Secret-Key") == SECRET_KEY_PLACEHOLDER:
            if self._secret_key is None:
                raise ConfigurationError("this request needs secret_key=")
            if not at_socket:
                headers = headers.copy()
                headers["Secret-Key"] = str(self._secret_key.reveal())
        wire.headers = headers
        wire.body = body
        return wire

    def place_in_bytes(self, data: bytes, method: str) -> bytes:
        """``data``, bytes of a request about to be written to the socket, with the keys
        swapped in: in a request head (``data`` opens with ``method``), the API key in its
        URL-path form and the Secret-Key in its header; in a body (what follows the head, or
        ``data`` when it is no head), the API key as a body carries it."""
        in_path, in_body = self._api_key_forms.reveal()
        head, body = b"", data
        if method and data.startswith(method.encode("ascii", "replace") + b" "):
            end = data.find(b"\r\n\r\n")
            head, body = (data, b"") if end < 0 else (data[: end + 4], data[end + 4 :])
            head = head.replace(_API_KEY_PLACEHOLDER_BYTES, in_path.encode("ascii"))
            if self._secret_key is not None:
                head = head.replace(
                    _SECRET_KEY_PLACEHOLDER_BYTES, str(self._secret_key.reveal()).encode("ascii")
                )
        return head + body.replace(_API_KEY_PLACEHOLDER_BYTES, in_body)

    def _seal(self, seal: Callable[[bytes], str], body: bytes) -> bytes | TwoFactorError:
        """The sealed body, or the error to raise when the codec failed: a new
        :class:`TwoFactorError` naming the codec's exception, its text scrubbed (a codec may
        quote the plaintext it was given, which holds the key), nothing chained to it."""
        try:
            return seal(body).encode("ascii")
        except Exception as exc:
            shown = self.describe_failure(exc)
        del body
        return TwoFactorError(f"the codec could not encrypt the request: {shown}")

    def describe_failure(self, exc: BaseException) -> str:
        """``"TypeName: text"`` for an exception raised by code that saw a key (a codec):
        every echo of a key scrubbed (:meth:`scrub`), registered secrets and the request's
        numbers redacted, at most 200 characters."""
        text = redact(self.scrub_text(str(exc))).strip()
        if len(text) > 200:
            text = text[:199] + "…"
        return type(exc).__name__ + (f": {text}" if text else "")

    def echoes(self, data: bytes) -> bool:
        """True when ``data`` holds an echo of a key, in any spelling :meth:`scrub` knows."""
        echoes: _Echoes | None = self._echoes.reveal()
        return bool(data) and echoes is not None and echoes.found_in(data)

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every echo of a key redacted, whatever its spelling.

        The spellings: the key as is or in another case; percent-encoded (every byte or
        some, hex digits in either case, once or twice); form-encoded; as JSON ``\\uXXXX``
        or ``\\xXX`` escapes or HTML character references; split by line breaks (real
        ones, JSON's ``\\n`` or ``%0A``); hex-encoded; in Base64 at any offset of the
        encoded bytes (the whole Base64 run around it is redacted); and any of these in a
        UTF-16 text (which comes back as UTF-8). Text that still shows a key after that (a
        spelling mixed beyond these rules) is not kept at all: the whole of ``data`` becomes
        ``<redacted>``.
        """
        echoes: _Echoes | None = self._echoes.reveal()
        if not data or echoes is None:
            return data
        return echoes.scrub(data)

    def scrub_text(self, text: str) -> str:
        """:meth:`scrub` for text (header values, the reason phrase)."""
        raw = text.encode("utf-8", "surrogateescape")
        clean = self.scrub(raw)
        return text if clean == raw else clean.decode("utf-8", "replace")


_BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_PAD = ord("=")
#: A Base64 core shorter than this is not searched for on its own (too likely by chance).
_MIN_CORE = 8


class _Echoes:
    """The searches for a client's keys: fixed forms, then the answer's decoded views."""

    __slots__ = (
        "_spelled",
        "cores",
        "encoded",
        "encoded_search",
        "folded",
        "folded_search",
        "pattern",
        "values",
    )

    def __init__(
        self,
        pattern: re.Pattern[bytes],
        cores: frozenset[bytes],
        values: tuple[str, ...],
        *,
        folded: tuple[bytes, ...],
        encoded: tuple[bytes, ...],
    ) -> None:
        #: every fixed form, for :meth:`scrub_fixed` (which needs their places)
        self.pattern = pattern
        #: which alternatives of ``pattern`` are Base64 cores (their whole run is redacted)
        self.cores = cores
        self.values = values
        #: the forms compared case-blind, as they look in a folded view (see :func:`_fold`)
        self.folded = folded
        #: the Base64 forms and cores, compared as they are
        self.encoded = encoded
        self.encoded_search = _any_of(encoded)
        self.folded_search = _any_of(folded)
        self._spelled: re.Pattern[bytes] | None = None

    def found_in(self, data: bytes) -> bool:
        """True when ``data`` holds a key: a fixed form, or a key in a decoded view.

        This runs on every answer, so the usual one (nothing to decode) costs two searches.
        """
        if self._holds(data):
            return True
        if b"%" not in data and b"\\" not in data and b"&#" not in data and b"\0" not in data:
            return False  # nothing to decode: the usual answer ends here
        return any(self._holds(view) for view in _views(data) if view is not data)

    def _holds(self, view: bytes) -> bool:
        folded = _fold(view)
        if len(view) <= _SHORT:
            # one regular expression per kind: fewer steps than a loop over the forms
            return bool(self.encoded_search(view) or self.folded_search(folded))
        # a long answer (a bulk chunk's): substring searches, each far faster than a
        # regular expression of alternatives over the whole text
        return any(form in view for form in self.encoded) or any(
            form in folded for form in self.folded
        )

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every value found redacted where it is located; ``<redacted>``
        alone when a value is found but cannot be located (see :meth:`Credentials.scrub`)."""
        if not self.found_in(data):
            return data  # the usual answer: a few searches, no copy
        if b"\0" in data:
            data = self.as_utf8(data)
        data = self.scrub_fixed(data)
        if self.found_in(data):
            data = self.spelled().sub(_REDACTED_BYTES, data)
        if self.found_in(data):
            return _REDACTED_BYTES  # nothing of a text that still shows a value is kept
        return data

    def as_utf8(self, data: bytes) -> bytes:
        """``data`` (which holds NULs) decoded from the UTF-16 reading that shows a key."""
        for codec in _UTF16:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            view = text.encode("utf-8", "surrogatepass")
            if self.found_in(view):
                return view
        return data

    def scrub_fixed(self, data: bytes) -> bytes:
        """``data`` with every match of the fixed forms redacted."""
        match = self.pattern.search(data)
        if match is None:
            return data
        out: list[bytes] = []
        done = 0
        while match is not None:
            start, end = match.span()
            if match.group(0) in self.cores:
                while start > done and data[start - 1] in _BASE64_CHARS:
                    start -= 1
                while end < len(data) and data[end] in _BASE64_CHARS:
                    end += 1
                while end < len(data) and data[end] == _PAD:
                    end += 1
            out += (data[done:start], _REDACTED_BYTES)
            done = end
            match = self.pattern.search(data, done)
        out.append(data[done:])
        return b"".join(out)

    def spelled(self) -> re.Pattern[bytes]:
        """One search for every key with each character in any of its spellings and line
        breaks between them (built on first use: only an answer that echoes needs it)."""
        if self._spelled is None:
            keys = sorted(self.values, key=len, reverse=True)
            self._spelled = re.compile(
                b"|".join(_spelled(v) for v in keys), re.IGNORECASE | re.DOTALL
            )
        return self._spelled


#: Undone in an answer's decoded view: percent-escapes, JSON's \uXXXX, \xXX, \", \\ and
#: \/, HTML character references, and JSON's line-break escapes (dropped).
_ESCAPE = re.compile(
    rb"%([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})"
    rb"|&#(?:[xX]([0-9A-Fa-f]{1,6})|([0-9]{1,7}));|\\([\"\\/])|\\[rnt]"
)
_WHITESPACE = b" \t\r\n\x0b\x0c"
_UTF16 = ("utf-16", "utf-16-le", "utf-16-be")
#: Escapes undone over and over at most this many times (each round shortens the text).
_ROUNDS = 8
#: Between two characters of a key split across lines.
_BREAK = rb"(?:\s|\\[rnt]|%(?:25)?0[ad]|\\u000[ad]|&#(?:x0*[ad]|0*1[03]);)*"


#: Up to this many bytes, an answer is searched with one regular expression per kind of form.
_SHORT = 4096


def _any_of(forms: tuple[bytes, ...]) -> Callable[[bytes], re.Match[bytes] | None]:
    """The ``search`` of a pattern matching any of ``forms`` (nothing, when there are none)."""
    if not forms:
        return lambda data: None
    return re.compile(b"|".join(re.escape(f) for f in forms)).search


def _fold(data: bytes) -> bytes:
    return data.translate(None, _WHITESPACE).lower()


def _plus(value: str) -> bytes:
    """``value`` as a form writes it when it holds spaces (``+``); else ``value``."""
    return value.replace(" ", "+").encode("utf-8")


def _unescape(match: re.Match[bytes]) -> bytes:
    percent, json_u, json_x, html_hex, html_dec, quoted = match.groups()
    if percent is not None:
        return bytes.fromhex(percent.decode("ascii"))
    if quoted is not None:
        return quoted
    number = None
    if json_u is not None or json_x is not None or html_hex is not None:
        number = int(json_u or json_x or html_hex, 16)
    elif html_dec is not None:
        number = int(html_dec)
    if number is None:
        return b""  # a JSON line-break escape
    if number > 0x10FFFF:
        return match.group(0)
    return chr(number).encode("utf-8", "surrogatepass")


def _views(data: bytes) -> Iterator[bytes]:
    """``data``'s readings a key may hide in: as is, then with its escapes undone again and
    again (an escape of an escape...), from ``data`` and from its UTF-16 readings when it has
    NULs."""
    starts = [data]
    if b"\0" in data:
        for codec in _UTF16:
            try:
                starts.append(data.decode(codec).encode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                continue
    for view in starts:
        yield view
        for _ in range(_ROUNDS):
            if b"%" not in view and b"\\" not in view and b"&#" not in view:
                break
            undone = _ESCAPE.sub(_unescape, view)
            if undone == view:
                break
            view = undone
            yield view


def _spelled(value: str) -> bytes:
    """A pattern for ``value`` with each character in any spelling (case-blind) and line
    breaks between characters."""
    parts = []
    for char in value:
        forms: set[bytes] = set()
        for variant in {char, char.lower(), char.upper()}:
            if len(variant) != 1:
                continue
            code = ord(variant)
            raw = variant.encode("utf-8", "surrogatepass")
            forms.add(re.escape(raw))
            if variant in '"\\/':
                forms.add(b"\\\\" + re.escape(raw))  # JSON's \" \\ \/
            forms.add(b"".join(b"%%(?:25)?%02x" % byte for byte in raw))
            forms.add(b"&#(?:x0*%x|0*%d);" % (code, code))
            if code <= 0xFFFF:
                forms.add(b"\\\\u%04x" % code)
            if code <= 0xFF:
                forms.add(b"\\\\x%02x" % code)
        longest_first: list[bytes] = sorted(forms, key=len, reverse=True)
        parts.append(b"(?:" + b"|".join(longest_first) + b")")
    return _BREAK.join(parts)


def _echo_pattern(values: list[str], min_core: int = _MIN_CORE) -> _Echoes | None:
    spelled: set[bytes] = set()  # compared case-blind: a proxy may change the case
    encoded: set[bytes] = set()  # Base64: case is meaning
    cores: set[bytes] = set()
    for value in values:
        raw = value.encode("utf-8")
        spelled.update(f.encode("ascii") for f in (quote(value, safe=""), quote(value)))
        spelled.update({raw, quote_plus(value).encode("ascii"), raw.hex().encode("ascii")})
        for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            encoded.update({b64, b64.rstrip(b"=")})
        cores.update(_base64_cores(raw, min_core))
    spelled.discard(b"")
    encoded.discard(b"")
    if not spelled:
        return None
    # Longest first (a form containing another is hidden whole; at one position the whole
    # encoding wins over its core).
    ordered = sorted(spelled | encoded | cores, key=len, reverse=True)
    parts = [b"(?i:%s)" % re.escape(f) if f in spelled else re.escape(f) for f in ordered]
    folded = {_fold(f) for f in spelled} | {_fold(_plus(v)) for v in values}
    return _Echoes(
        re.compile(b"|".join(parts)),
        frozenset(cores - spelled - encoded),
        tuple(v for v in values if v),
        folded=_shortest_cover(folded - {b""}),
        encoded=_shortest_cover(encoded | cores),
    )


#: The shortest Base64 core searched for a per-call value (an OTP of 4 digits at the offset
#: that leaves it fewest characters of its own has 4).
_MIN_CALL_CORE = 4


def echo_scrubber(values: Iterable[str]) -> Callable[[str], str] | None:
    """A function giving text back with every echo of ``values`` (a call's own values: the
    OTP it verifies or sends) redacted, in every spelling :meth:`Credentials.scrub` finds a
    key in, Base64 at each of its 3 alignments included; the whole text becomes
    ``<redacted>`` when a value is found but cannot be located. ``None`` when there are no
    values."""
    echoes = _echo_pattern([v for v in values if v], _MIN_CALL_CORE)
    if echoes is None:
        return None

    def scrub_text(text: str) -> str:
        raw = text.encode("utf-8", "surrogateescape")
        clean = echoes.scrub(raw)
        return text if clean is raw else clean.decode("utf-8", "replace")

    return scrub_text


def _shortest_cover(forms: set[bytes]) -> tuple[bytes, ...]:
    """``forms`` without those that contain another (found whenever that one is)."""
    kept = sorted(forms, key=len)
    return tuple(f for i, f in enumerate(kept) if not any(k in f for k in kept[:i]))


class _MarkForPlacing(AuthBase):
    """Tags a prepared request with the credentials (and the seal) it is to be sent with."""

    def __init__(self, credentials: Credentials, seal: Callable[[bytes], str] | None) -> None:
        self.credentials = credentials
        self.seal = seal

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        setattr(request, _CREDENTIALS_ATTRIBUTE, self.credentials)
        setattr(request, _SEAL_ATTRIBUTE, self.seal)
        return request


class KeyPlacingAdapter(BaseAdapter):
    """Wraps a transport adapter: has the keys put into marked requests as they are sent.

    Requests not marked by :meth:`Credentials.auth` pass through untouched. A marked one
    goes through ``inner`` with its placeholders when ``inner`` is a requests
    ``HTTPAdapter``: ``http.client``'s ``send``, on this thread, swaps the keys into the
    bytes it writes to the socket (see the module docstring). Any other adapter is given a
    keyed copy. The adapter then reads the answer and returns
    a response whose ``request`` and ``url`` are the placeholder ones (a sealed request's
    body becomes the ciphertext that went out), whose body, headers and reason have
    every echo of a key redacted, and which keeps no urllib3 response (that one remembers the
    URL that was sent). Cookies are not kept: 2Factor sets none.
    """

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner
        _place_keys_at_the_socket()

    def __repr__(self) -> str:
        return f"KeyPlacingAdapter({self.inner!r})"

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` through the wrapped adapter, keys in (see the class docstring)."""
        credentials: Credentials | None = getattr(request, _CREDENTIALS_ATTRIBUTE, None)
        if credentials is None:
            return self.inner.send(request, **kwargs)
        if isinstance(self.inner, HTTPAdapter):
            wire = credentials.place(request, at_socket=True)
            placing = _placing.set(credentials)
            try:
                response = self.inner.send(wire, **kwargs)
            finally:
                _placing.reset(placing)
        else:
            wire = credentials.place(request)
            response = self.inner.send(wire, **kwargs)
        raw = response.raw
        try:
            content = response.content  # read now: the urllib3 response is let go below
        finally:
            response.raw = None
            _forget_the_answer(raw)
            del raw
        if getattr(request, _SEAL_ATTRIBUTE, None) is not None:
            # what went out, as the caller's request shows it: the ciphertext
            request.body = wire.body
            request.headers["Content-Length"] = wire.headers["Content-Length"]
        del wire
        response.request = request
        response.url = request.url or ""
        # One search over the body, one over the reason and every header value; rewrites on a
        # hit only.
        head = "\n".join([response.reason or "", *response.headers.values()])
        response._content = content or b""
        if credentials.echoes(response._content) or credentials.echoes(
            head.encode("utf-8", "surrogateescape")
        ):
            response._content = credentials.scrub(response._content)
            response.reason = credentials.scrub_text(response.reason or "")
            for name, value in list(response.headers.items()):
                response.headers[name] = credentials.scrub_text(value)
        if len(response.cookies):  # their default paths come from the URL that was sent
            response.cookies = requests.cookies.RequestsCookieJar()
        return response

    def close(self) -> None:
        """Close the wrapped adapter."""
        self.inner.close()


#: The credentials whose request this thread (or task) is sending through an ``HTTPAdapter``.
_placing: ContextVar[Credentials | None] = ContextVar("twofactor_notify_placing", default=None)
_socket_lock = threading.Lock()
_socket_placing = False


def _place_keys_at_the_socket() -> None:
    """Wrap ``http.client.HTTPConnection.send`` (once per process) so that, while a
    :class:`KeyPlacingAdapter` sends a marked request on this thread, the bytes written to
    the socket get the keys (:meth:`Credentials.place_in_bytes`). Any other write, and every
    write of any other request, goes to the ``send`` that was there before, unchanged."""
    global _socket_placing
    with _socket_lock:
        if _socket_placing:
            return
        wrapped = http.client.HTTPConnection.send

        def send(self: http.client.HTTPConnection, data: Any) -> None:
            credentials = _placing.get()
            if credentials is None or not isinstance(data, bytes | bytearray):
                return wrapped(self, data)
            if _API_KEY_PLACEHOLDER_BYTES not in data and _SECRET_KEY_PLACEHOLDER_BYTES not in data:
                return wrapped(self, data)
            if self.sock is None:
                if not self.auto_open:
                    raise http.client.NotConnected()
                self.connect()
            # what http.client shows of a write (debuglevel, audit hooks) is what went
            # through it: the placeholders
            if self.debuglevel > 0:
                print("send:", repr(data))
            sys.audit("http.client.send", self, data)
            keyed = credentials.place_in_bytes(bytes(data), getattr(self, "_method", "") or "")
            try:
                self.sock.sendall(keyed)
            finally:
                del keyed  # a failed write's traceback holds this frame
            return None

        send.__wrapped__ = wrapped  # type: ignore[attr-defined]
        http.client.HTTPConnection.send = send  # type: ignore[method-assign]
        _socket_placing = True


def _forget_the_answer(raw: Any) -> None:
    """Empty the ``http.client`` response under a urllib3 response that has been read.

    A kept-alive connection goes back to the pool still pointing at the last response it
    read (``http.client`` clears it only on the next request), and that response keeps its
    reason phrase and raw headers: an echo of the request (``X-Echo-Path: /API/V1/<key>/…``)
    would stay reachable from the session, the adapter and every ``response.connection``,
    unredacted, until the connection is used again.
    """
    original = getattr(raw, "_original_response", None)
    if isinstance(original, http.client.HTTPResponse):
        original.msg = original.headers = http.client.HTTPMessage()
        original.reason = ""
    headers = getattr(raw, "headers", None)
    if headers is not None and hasattr(headers, "clear"):
        headers.clear()


def install_key_placing_adapter(session: requests.Session, url: str) -> None:
    """Make sure ``session`` sends requests for ``url`` through a :class:`KeyPlacingAdapter`.

    The adapter the session would have used for ``url`` is wrapped and mounted again under
    the same prefix, so its settings (pool size, retries, a test double) still apply.
    """
    adapter = session.get_adapter(url)
    if isinstance(adapter, KeyPlacingAdapter):
        return
    prefix = next(
        (
            p
            for p, a in session.adapters.items()
            if a is adapter and url.lower().startswith(p.lower())
        ),
        None,
    )
    session.mount(prefix if prefix is not None else url, KeyPlacingAdapter(adapter))
