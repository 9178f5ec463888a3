"""Keeping secrets out of logs, exception text and reprs.

2Factor puts the API key inside the URL path of every ``/API/V1/`` call, and urllib3 logs
request paths at DEBUG level. Each client registers its secrets here; :func:`redact` replaces
them (raw and percent-encoded) in any text, and :class:`RedactingFilter`, installed on
urllib3's and requests' loggers and on ours, scrubs every log record that passes.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "forget_secret",
    "hide_request_values",
    "hide_request_values_of",
    "install_log_filter",
    "library_logger",
    "redact",
    "register_secret",
]

REDACTED = "<redacted>"

_lock = threading.RLock()
_secrets: dict[str, int] = {}
_changes: deque[tuple[str, int]] = deque()  # registrations waiting for _rebuild
_rebuilding = False
_pattern: re.Pattern[str] | None = None
_base64_pattern: re.Pattern[str] | None = None  # the Base64 cores of the secrets

#: Loggers whose records may contain request URLs.
_LOGGERS = (
    # A filter on a logger sees only the records created on that very logger, so every
    # logger that may print a URL is listed, not just the parents.
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    # access logs: they print request lines, hence a webhook's ?token= (when that form is on)
    "werkzeug",
    "gunicorn.access",
    "gunicorn.error",
    "django.server",
    # a 404 or 400 line quotes the request's path ("Not Found: /twofactor/delivery/<token>/")
    "django.request",
    "django.security.DisallowedHost",
    # Sentry's own (debug=True): "[Tracing] Adding `sentry-trace` header ... to outgoing
    # request to <the URL>", and the envelopes it would send
    "sentry_sdk.errors",
    "sentry_sdk.envelopes",
    "twofactor_notify",
    "twofactor_notify.client",
    "twofactor_notify.transport",
    "twofactor_notify.webhooks",
    "twofactor_notify.sends",
    "twofactor_notify.cli",
)


#: Between two characters of a secret split across lines: real line breaks, JSON's, or
#: percent-encoded ones.
_BREAK = r"(?:\s|\\[rnt]|%(?:25)?0[ad])*"


def _any_encoding(secret: str) -> str:
    """A pattern (to compile case-blind) for ``secret`` in any spelling a client may send and
    a server or a proxy may log or echo: each character as is or in another case,
    percent-encoded (its UTF-8 bytes, hex digits in either case, once or twice over), as a
    JSON ``\\uXXXX`` / ``\\xXX`` escape or an HTML character reference; line breaks between
    the characters; or the whole secret hex-encoded. ``tok-SECRET``, ``tok%2DSECRET``,
    ``%74ok%2dsecret``, ``tok-SE\\nCRET``, ``&#116;ok-SECRET`` all match."""
    parts = []
    for char in secret:
        forms = set()
        for variant in {char, char.lower(), char.upper()}:
            if len(variant) != 1:
                continue
            code = ord(variant)
            forms.add(re.escape(variant))
            forms.add(
                "".join(f"%(?:25)?{byte:02x}" for byte in variant.encode("utf-8", "surrogatepass"))
            )
            forms.add(f"&#(?:x0*{code:x}|0*{code});")
            if code <= 0xFFFF:
                forms.add(f"\\\\u{code:04x}")
            if code <= 0xFF:
                forms.add(f"\\\\x{code:02x}")
            if variant in '"\\/':
                forms.add("\\\\" + re.escape(variant))  # JSON's \" \\ \/
        if char == " ":
            forms.add("\\+")  # a form body writes a space as "+"
        parts.append("(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")")
    hexed = secret.encode("utf-8", "surrogatepass").hex()
    return f"(?:{_BREAK.join(parts)}|{hexed})"


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_BASE64_RUN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
#: A registered secret has 6 characters at least: its Base64 cores have 7 at least.
_MIN_SECRET_CORE = 6


def _base64_cores(raw: bytes, min_core: int) -> set[bytes]:
    """The parts of the Base64 encodings (standard and URL-safe) of any bytes holding
    ``raw`` that depend on ``raw`` alone: for each of the 3 offsets modulo 3 at which it can
    start, the characters whose 6 bits all come from it. Text that Base64-encodes ``raw``
    anywhere contains one of them. Cores shorter than ``min_core`` are left out."""
    cores: set[bytes] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first = -(-8 * offset // 6)
        last = 8 * (offset + len(raw)) // 6
        core = encoded[first:last]
        if len(core) < min_core:
            continue
        cores.add(core)
        cores.add(core.translate(_URLSAFE))
    return cores


def _redact_base64(text: str, search: re.Pattern[str]) -> str:
    """``text`` with every Base64 run holding a core of a registered secret redacted whole."""
    match = search.search(text)
    if match is None:
        return text
    out: list[str] = []
    done = 0
    while match is not None:
        start, end = match.span()
        while start > done and text[start - 1] in _BASE64_RUN_CHARS:
            start -= 1
        while end < len(text) and text[end] in _BASE64_RUN_CHARS:
            end += 1
        while end < len(text) and text[end] == "=":
            end += 1
        out += (text[done:start], REDACTED)
        done = end
        match = search.search(text, done)
    out.append(text[done:])
    return "".join(out)


def _rebuild() -> None:
    global _pattern, _base64_pattern, _rebuilding
    # Called with _lock held. Building the pattern allocates, so a garbage collection can run
    # inside it, and with it a finalizer closing a client, which forgets its key: that
    # nested call (same thread, lock already held) only queues its change, and the loop
    # here applies it before anyone else sees the registry.
    if _rebuilding:
        return
    _rebuilding = True
    try:
        while True:
            while _changes:
                secret, delta = _changes.popleft()
                count = _secrets.get(secret, 0) + delta
                if count > 0:
                    _secrets[secret] = count
                else:
                    _secrets.pop(secret, None)
            # longest first, so that a secret containing another is hidden whole
            ordered = sorted(_secrets, key=len, reverse=True)
            pattern = (
                re.compile("|".join(_any_encoding(s) for s in ordered), re.IGNORECASE)
                if ordered
                else None
            )
            cores = sorted(
                {
                    core.decode("ascii")
                    for s in ordered
                    for core in _base64_cores(s.encode("utf-8", "surrogatepass"), _MIN_SECRET_CORE)
                },
                key=len,
                reverse=True,
            )
            in_base64 = re.compile("|".join(map(re.escape, cores))) if cores else None
            if not _changes:
                _pattern, _base64_pattern = pattern, in_base64
                return
    finally:
        _rebuilding = False


def register_secret(secret: str) -> None:
    """Remember ``secret`` so that :func:`redact` and the log filter hide it, in any
    spelling: as is or in another case, with any of its characters percent-encoded (once or
    twice), JSON-escaped or written as HTML character references, split by line breaks, or
    hex-encoded.

    Short values (under 6 characters) are not registered: replacing them everywhere would
    mangle ordinary text. OTPs are kept out of texts by construction instead.
    """
    if not secret or len(secret) < 6:
        return
    with _lock:
        _changes.append((secret, 1))
        _rebuild()


def forget_secret(secret: str) -> None:
    """Undo one :func:`register_secret` (called when a client is closed, possibly by a
    finalizer in the middle of another registration)."""
    if not secret or len(secret) < 6:
        return
    with _lock:
        if _secrets.get(secret) is None and all(s != secret for s, _d in _changes):
            return
        _changes.append((secret, -1))
        _rebuild()


# The OTP segment of a V1 path: /SMS/{phone}/{otp}[/{template}] and
# /SMS/VERIFY[2|3]/{session id or phone}/{otp}. urllib3 logs request paths at DEBUG, and
# OTPs are too short to register as secrets, so they are recognised by position instead.
_V1_OTP = re.compile(r"(/SMS/(?:VERIFY[23]?/)?[^/\s\"?]+/)[0-9]{4,6}(?=$|[/\s\"?])")
_OTP_MASK = "<otp>"


# A ``token`` query parameter, its name spelled plainly or percent-encoded in part (servers
# decode the name before looking it up), up to the next separator: its value, in whatever
# form, is hidden. The name must not follow another name character (``csrftoken=`` is kept).
def _secret_value(bare: str) -> str:
    """A pattern for the value after a secret's ``name=``: a quoted string (to its closing
    quote, or to the end of the text when it has none), an authorization scheme and its
    credentials (``Bearer abc``), or a bare value made of ``bare`` (a character class)."""
    schemes = r"(?:Bearer|Basic|Digest|Token|Bot|Negotiate|NTLM|Hawk|AWS4-HMAC-SHA256)"
    return rf"""(?:"[^"]*"?|'[^']*'?|{schemes}\s+{bare}|{bare})"""


_QUERY_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_.~%-])((?:t|%74)(?:o|%6f)(?:k|%6b)(?:e|%65)(?:n|%6e)(?:=|%3d))"
    + _secret_value(r"[^&\s\"';#]*"),
    re.IGNORECASE,
)


# The values of the request being made in this context (thread, task): its phone numbers
# and its OTP. A server or a proxy may echo them back anywhere in an answer, in any form
# (``+91…``, ``91…``, the national number, ``%2B91…``); redact() hides them until the next
# request of the same context replaces them.
_request_values: ContextVar[_RequestValues | None] = ContextVar(
    "twofactor_notify_request_values", default=None
)
_NATIONAL_DIGITS = 10  # India's; a longer number's extra leading digits are its country code
# Any run of digits long enough to be a phone number, with its "+" (plain or encoded), and
# any run of 4 to 6 digits standing alone (an OTP): one fixed pattern, then a set lookup, so
# a request of 1000 numbers costs no more per text than a request of one.
_NUMBER_RUN = re.compile(r"(?<![0-9])(?:\+|%2[Bb])?[0-9]{7,15}(?![0-9])")
_CODE_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9]{4,6}(?![0-9A-Za-z])")


def _phone_mask(digits: str) -> str:
    return "*" * 6 + digits[-4:]


class _RequestValues:
    """The numbers and OTPs of one request, gathered only when a text is first redacted
    (an answer to hide them from is rare: most requests never need them)."""

    __slots__ = ("_echoes", "_gather", "_values")

    def __init__(self, gather: Callable[[], tuple[Iterable[str], Iterable[str]]]) -> None:
        self._gather: Callable[[], tuple[Iterable[str], Iterable[str]]] | None = gather
        self._values: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        self._echoes: Callable[[str], str] | bool | None = False  # False: not built yet

    def code_echoes(self) -> Callable[[str], str] | None:
        """The scrubber of this request's OTPs in every spelling (built on first use)."""
        if self._echoes is False:
            # imported here: the wire layer imports this module
            from .credentials import echo_scrubber

            self._echoes = echo_scrubber(self.get()[1])
        return self._echoes  # type: ignore[return-value]

    def get(self) -> tuple[frozenset[str], frozenset[str]]:
        gather = self._gather
        if gather is not None:
            phones, otps = gather()
            self._values = _request_value_sets(phones, otps)
            self._gather = None
        return self._values


def _request_value_sets(
    phones: Iterable[str], otps: Iterable[str]
) -> tuple[frozenset[str], frozenset[str]]:
    nationals = frozenset(
        digits[-_NATIONAL_DIGITS:]
        for digits in (raw.strip().lstrip("+") for raw in phones)
        if len(digits) >= 7 and digits.isascii() and digits.isdigit()
    )
    codes = frozenset(o for o in otps if o.isascii() and o.isdigit() and 4 <= len(o) <= 6)
    return nationals, codes


def hide_request_values(*, phones: Iterable[str] = (), otps: Iterable[str] = ()) -> None:
    """Declare the phone numbers and OTPs of the request about to be made: until the next
    call in this context, :func:`redact` masks each number (``******3210``, with or without
    its country code or ``+``) and replaces each OTP by ``<otp>`` wherever they appear, so
    that an answer echoing them cannot carry them into an error, a log line or a result.

    The client calls it (through :func:`hide_request_values_of`) for every request it makes
    (from the request itself, the last thing built before the wire), so every endpoint is
    covered, including one added later.
    """
    values = _request_value_sets(list(phones), list(otps))
    hide_request_values_of(lambda: values)


def hide_request_values_of(gather: Callable[[], tuple[Iterable[str], Iterable[str]]]) -> None:
    """:func:`hide_request_values`, with the values gathered by ``gather()`` (``(phones,
    otps)``) the first time :func:`redact` needs them, if ever: a request whose answer is
    never redacted (a bulk chunk of 1000 numbers that went well) does not pay for them.
    ``gather`` must read only the request's own values, which do not change after it."""
    _request_values.set(_RequestValues(gather))


def _hide_request_values(text: str) -> str:
    current = _request_values.get()
    if current is None:
        return text
    nationals, codes = current.get()
    if nationals:

        def number(match: re.Match[str]) -> str:
            national = match.group()[-_NATIONAL_DIGITS:]  # the run ends in digits
            return _phone_mask(national) if national in nationals else match.group()

        text = _NUMBER_RUN.sub(number, text)
    if codes:
        text = _CODE_RUN.sub(lambda m: _OTP_MASK if m.group() in codes else m.group(), text)
        # an echo may spell the OTP otherwise (hex, Base64, escaped, split): the same search
        # the wire layer runs for the keys
        scrub = current.code_echoes()
        if scrub is not None:
            text = scrub(text)
    return text


def redact(text: str, *, request_values: bool = True) -> str:
    """``text`` with every registered secret replaced by ``<redacted>``, the value of any
    ``token`` query parameter (a webhook's shared token, in any spelling) too, the OTP
    segment of any V1 OTP path (``/SMS/{phone}/{otp}``, ``/SMS/VERIFY/{id}/{otp}``) by
    ``<otp>``, and the numbers and OTP of the current request (:func:`hide_request_values`)
    masked.

    :param request_values: mask the current request's numbers and OTP; ``False`` hides
        only secrets, for output that shows numbers on purpose (the command line's
        ``--json``)."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    in_base64 = _base64_pattern
    if in_base64 is not None:
        text = _redact_base64(text, in_base64)
    if request_values:
        text = _hide_request_values(text)
    if "=" in text or "%3" in text:
        text = _QUERY_TOKEN.sub(r"\1" + REDACTED, text)
    if "/SMS/" in text:
        text = _V1_OTP.sub(r"\1" + _OTP_MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; don't hide the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # A traceback's text can quote a URL or a value: format it now, cleaned, so that
            # the handler uses this text instead of formatting the raw one.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed = False
_FILTER = RedactingFilter()


def library_logger(name: str) -> logging.Logger:
    """The logger ``name`` of this library's, with :class:`RedactingFilter` on it.

    A filter on a logger sees only the records created on that very logger, not on its
    children: each of the library's loggers carries its own, from its first use, whatever
    handlers and filters the project configures.
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def install_log_filter() -> None:
    """Install :class:`RedactingFilter` on urllib3's, requests', Sentry's, the web servers'
    access loggers and this library's loggers."""
    global _installed
    with _lock:
        if _installed:
            return
        for name in _LOGGERS:
            library_logger(name)
        _installed = True
