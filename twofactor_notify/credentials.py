"""Where the keys live, and the one place they reach the wire.

A client's API key and Secret-Key are held by :class:`Credentials`, and nowhere else in the
library: requests are built with placeholders (:data:`API_KEY_PLACEHOLDER` in the V1 URL path
and in R1 form and JSON bodies, :data:`SECRET_KEY_PLACEHOLDER` in the ``Secret-Key`` header).
:class:`KeyPlacingAdapter`, the last layer before urllib3 and the socket, swaps the keys in
on a private copy of the request (and, for the encrypted endpoints, only then encrypts the
body), sends it, and hands back a response that carries the placeholder request and in which
any echo of a key (a proxy or a server repeating the request) is replaced by ``<redacted>``.

So no object above that layer (the client's frames, a prepared request, a response, an error)
ever holds a key, and error reporters that record frames' local variables (Sentry, Rollbar,
Django's technical 500 page) have nothing to show. :class:`Secret` keeps its value in a
closure rather than in an attribute, so that serialisers walking ``__dict__`` and
``__slots__`` do not reach it either; its ``repr`` and ``str`` are redacted and it cannot be
pickled.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import BaseAdapter
from requests.auth import AuthBase

from .errors import ConfigurationError
from .redaction import REDACTED

__all__ = [
    "API_KEY_PLACEHOLDER",
    "SECRET_KEY_PLACEHOLDER",
    "Credentials",
    "KeyPlacingAdapter",
    "Secret",
    "install_key_placing_adapter",
]

#: Stands for the API key in URLs and bodies until the wire layer swaps the key in. Letters,
#: digits and ``-`` only: it survives percent-, form- and JSON-encoding unchanged.
API_KEY_PLACEHOLDER = "twofactor-notify-api-key-placeholder"
#: Stands for the Secret-Key in the ``Secret-Key`` header until the wire layer.
SECRET_KEY_PLACEHOLDER = "twofactor-notify-secret-key-placeholder"  # noqa: S105 - not a key

_CREDENTIALS_ATTRIBUTE = "twofactor_credentials"
_SEAL_ATTRIBUTE = "twofactor_seal"
_REDACTED_BYTES = REDACTED.encode("ascii")


class Secret:
    """A secret value (a key, its bytes), kept out of reprs, pickles and attribute walks.

    >>> key = Secret("abcd-1234-secret")
    >>> key
    <redacted>
    >>> key.reveal()
    'abcd-1234-secret'
    """

    __slots__ = ("_reveal",)

    def __init__(self, value: Any) -> None:
        # A closure, not an attribute: serialisers walking __dict__/__slots__ stop here.
        self._reveal: Callable[[], Any] = lambda: value

    def reveal(self) -> Any:
        """The value itself: call this only where it goes on the wire or into a cipher."""
        return self._reveal()

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled or copied out of the process")


class Credentials:
    """A client's API key and (optional) Secret-Key; see the module docstring.

    :param api_key: the account's API key.
    :param secret_key: the account's secret key, for the encrypted endpoints.
    """

    __slots__ = ("_api_key", "_base64_tokens", "_echoes", "_secret_key")

    def __init__(self, api_key: str, secret_key: str | None = None) -> None:
        if secret_key is not None and (
            not isinstance(secret_key, str)
            or not secret_key.isprintable()
            or not secret_key.isascii()
        ):
            raise ConfigurationError(
                "secret_key must be printable ASCII text (it travels in an HTTP header)"
            )
        self._api_key = Secret(api_key)
        self._secret_key = Secret(secret_key) if secret_key else None
        values = [v for v in (api_key, secret_key) if v]
        self._echoes = Secret(_echo_pattern(values))
        # Base64 runs long enough to hold the shorter key (4 characters per 3 bytes), so a
        # session id or an ordinary word is not decoded on every answer.
        shortest = min(len(v.encode("utf-8")) for v in values)
        self._base64_tokens = re.compile(rb"[A-Za-z0-9+/_-]{%d,}={0,2}" % (shortest * 4 // 3))

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

    def place(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """A copy of ``request`` with the keys swapped in (and its body sealed, if asked)."""
        api_key = str(self._api_key.reveal())
        # Built by hand rather than with copy(): only what an adapter reads, and the
        # headers are copied only when a value in them changes.
        wire = requests.PreparedRequest()
        wire.method = request.method
        wire.url = (request.url or "").replace(API_KEY_PLACEHOLDER, quote(api_key, safe=""))
        wire.hooks = request.hooks
        wire._cookies = request._cookies  # type: ignore[attr-defined]
        wire._body_position = request._body_position  # type: ignore[attr-defined]
        headers = request.headers
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            body = body.replace(API_KEY_PLACEHOLDER.encode("ascii"), api_key.encode("ascii"))
            seal = getattr(request, _SEAL_ATTRIBUTE, None)
            if seal is not None:
                body = seal(body).encode("ascii")
            headers = headers.copy()
            headers["Content-Length"] = str(len(body))
        if headers.get("Secret-Key") == SECRET_KEY_PLACEHOLDER:
            if self._secret_key is None:
                raise ConfigurationError("this request needs secret_key=")
            headers = headers.copy()
            headers["Secret-Key"] = str(self._secret_key.reveal())
        wire.headers = headers
        wire.body = body
        return wire

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every echo of a key (as is, percent-encoded, Base64) redacted."""
        if not data:
            return data
        pattern: re.Pattern[bytes] | None = self._echoes.reveal()
        if pattern is None:
            return data
        tokens = self._base64_tokens
        if pattern.search(data) is None and tokens.search(data) is None:
            return data  # the usual answer: searched twice, copied never
        data = pattern.sub(_REDACTED_BYTES, data)
        return tokens.sub(lambda m: self._scrub_token(m.group(0)), data)

    def scrub_text(self, text: str) -> str:
        """:meth:`scrub` for text (header values, the reason phrase)."""
        raw = text.encode("utf-8", "surrogateescape")
        clean = self.scrub(raw)
        return text if clean == raw else clean.decode("utf-8", "replace")

    def _scrub_token(self, token: bytes) -> bytes:
        """A Base64 token that decodes to text containing a key (at any offset) is redacted."""
        values = [v for v in (self.reveal_api_key(), self.reveal_secret_key()) if v]
        needles = [v.encode("utf-8") for v in values]
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for start in range(4):
                chunk = token[start:]
                chunk += b"=" * (-len(chunk) % 4)
                try:
                    decoded = decode(chunk)
                except (binascii.Error, ValueError):
                    continue
                if any(n in decoded for n in needles):
                    return _REDACTED_BYTES
        return token


def _echo_pattern(values: list[str]) -> re.Pattern[bytes] | None:
    forms: set[bytes] = set()
    for value in values:
        raw = value.encode("utf-8")
        forms.update(f.encode("ascii") for f in (quote(value, safe=""), quote(value)))
        forms.update({raw, quote_plus(value).encode("ascii")})
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms.update({encoded, encoded.rstrip(b"=")})
    ordered = sorted((f for f in forms if f), key=len, reverse=True)
    if not ordered:
        return None
    # Percent-escapes may come back in either case; nothing else needs a case-blind search.
    flags = re.IGNORECASE if any(b"%" in f for f in ordered) else 0
    return re.compile(b"|".join(re.escape(f) for f in ordered), flags)


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
    """Wraps a transport adapter: puts the keys into marked requests just before sending.

    Requests not marked by :meth:`Credentials.auth` pass through untouched. For a marked
    one, the adapter sends a keyed copy through ``inner``, then reads the answer and returns
    a response whose ``request`` and ``url`` are the placeholder ones (a sealed request's
    body becomes the ciphertext that went out), whose body, headers and reason have
    every echo of a key redacted, and which keeps no urllib3 response (that one remembers the
    URL that was sent). Cookies are not kept: 2Factor sets none.
    """

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner

    def __repr__(self) -> str:
        return f"KeyPlacingAdapter({self.inner!r})"

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` through the wrapped adapter, keys in (see the class docstring)."""
        credentials: Credentials | None = getattr(request, _CREDENTIALS_ATTRIBUTE, None)
        if credentials is None:
            return self.inner.send(request, **kwargs)
        wire = credentials.place(request)
        response = self.inner.send(wire, **kwargs)
        try:
            content = response.content  # read now: the urllib3 response is let go below
        finally:
            response.raw = None
        if getattr(request, _SEAL_ATTRIBUTE, None) is not None:
            # what went out, as the caller's request shows it: the ciphertext
            request.body = wire.body
            request.headers["Content-Length"] = wire.headers["Content-Length"]
        del wire
        response.request = request
        response.url = request.url or ""
        # One search over the body, the reason and every header value; rewrites on a hit only.
        head = "\n".join([response.reason or "", *response.headers.values()])
        blob = (content or b"") + b"\n" + head.encode("utf-8", "surrogateescape")
        response._content = content or b""
        if credentials.scrub(blob) != blob:
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
