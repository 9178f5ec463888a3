"""Look for secrets where an error reporter would look: every frame a raised error touched.

Sentry, Rollbar and Django's technical 500 page record, for each frame of a traceback, the
local variables, serialised into containers. :func:`find_secrets` walks an exception, its
``__cause__`` / ``__context__`` chain (and exception groups), every frame of each traceback
(``tb_next`` down, then ``f_back`` up to the caller's frame), any further root objects it is
given (the object whose method failed), and from all of these every object reachable through
mappings, sequences, sets, deques and objects' ``__dict__`` / ``__slots__`` (which covers
dataclasses, a session's adapters, a pool's connections and what they last read), breadth
first, cycle-safe, to :data:`MAX_DEPTH` levels: far deeper than a reporter goes.

A secret counts as found in any spelling a server or a proxy may give it back in
(:func:`find_secrets_in_text`): as is or in another case; percent-encoded, every byte or
some, in either case of hex digits, once or twice; form-encoded; as JSON ``\\uXXXX`` or
``\\xXX`` escapes; as HTML character references; split by line breaks (real ones or JSON's
``\\n``); hex-encoded; in UTF-16 (either byte order, with or without a BOM); and in Base64 at
any offset (every Base64 token is decoded and searched, after the escapes are undone too).
"""

from __future__ import annotations

import base64
import binascii
import collections
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

__all__ = [
    "MAX_DEPTH",
    "Finding",
    "find_secrets",
    "find_secrets_in_object",
    "find_secrets_in_text",
    "secret_forms",
]

#: How many times over escapes are undone (escapes of escapes...).
_ROUNDS = 8
#: How many references deep the walk goes from a frame's local or a root object.
MAX_DEPTH = 64

_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
# Values a reporter shows by repr() only; walking them would leave the frame's data.
_OPAQUE = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    type,
)


@dataclass(frozen=True)
class Finding:
    """Where a secret was found: a path such as ``frame send_otp / local form / ['apikey']``."""

    path: str
    secret_name: str

    def __str__(self) -> str:
        return f"{self.secret_name} at {self.path}"


def secret_forms(secret: str) -> set[str]:
    """The texts under which ``secret`` may appear: raw, percent/form-encoded, Base64."""
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update({text, text.rstrip("=")})
    return {f for f in forms if f}


def find_secrets_in_text(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets present in ``text``, in any spelling (see the module
    docstring): the fixed forms of :func:`secret_forms` first, then the text's decoded
    views (:func:`decoded_views`) folded (case, line breaks) and searched."""
    found = []
    views: list[str] | None = None
    for name, secret in secrets.items():
        if any(form in text for form in secret_forms(secret)):
            found.append(name)
            continue
        if views is None:
            views = decoded_views(text)
        if any(_holds(view, secret) for view in views):
            found.append(name)
    return found


#: One escape of any kind, undone in one pass (so that an escape's result is not read as
#: the start of another): percent, JSON's \\uXXXX, \\xXX and \\" \\\\ \\/, HTML's &#N; and &#xH;.
_ESCAPE = re.compile(
    rb"%([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|\\([\"\\/])"
    rb"|&#[xX]([0-9A-Fa-f]{1,6});|&#([0-9]{1,7});"
)
_BREAKS = re.compile(r"\s+|\\[rnt]")


def decoded_views(text: str) -> list[str]:
    """``text`` and what it becomes with its escapes undone: UTF-16 (when it holds NULs),
    percent-escapes, JSON escapes and HTML character references, undone again and again (an
    escape of an escape...)."""
    starts = [text]
    if "\0" in text:
        raw = text.encode("latin-1", "ignore")
        for codec in ("utf-16", "utf-16-le", "utf-16-be"):
            for skip in (0, 1):
                starts.append(raw[skip:].decode(codec, "ignore"))
    views: list[str] = []
    for view in starts:
        views.append(view)
        for _ in range(_ROUNDS):  # each round shortens the text: it ends by itself
            decoded = _undo_escapes(view)
            if decoded == view:
                break
            view = decoded
            views.append(view)
    return views


def _undo_escapes(text: str) -> str:
    def undo(match: re.Match[bytes]) -> bytes:
        percent, json_u, json_x, quoted, html_hex, html_dec = match.groups()
        if percent is not None:
            return bytes.fromhex(percent.decode())
        if quoted is not None:
            return quoted
        code = int(json_u or json_x or html_hex, 16) if html_dec is None else int(html_dec)
        return chr(min(code, 0x10FFFF)).encode("utf-8", "surrogatepass")

    raw = _ESCAPE.sub(undo, text.encode("utf-8", "surrogatepass"))
    return raw.decode("utf-8", "surrogateescape")


def _holds(view: str, secret: str) -> bool:
    """True when ``view`` (one decoded view of a text) holds ``secret``: in any case, split
    by line breaks, hex-encoded, or in one of its Base64 tokens."""
    folded = _BREAKS.sub("", view).casefold()
    needle = _BREAKS.sub("", secret).casefold()
    if needle and needle in folded:
        return True
    if secret.encode("utf-8").hex() in folded:
        return True
    if " " in secret and secret.replace(" ", "+").casefold() in folded:
        return True
    return any(_decodes_to_contain(token, secret) for token in _BASE64_TOKEN.findall(view))


def _decodes_to_contain(token: str, secret: str) -> bool:
    needle = secret.encode("utf-8")
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        for start in range(4):  # a token cut out of a larger text may start mid-quantum
            chunk = token[start:]
            chunk = chunk + "=" * (-len(chunk) % 4)
            try:
                if needle in decode(chunk):
                    return True
            except (binascii.Error, ValueError):
                continue
    return False


class _Walk:
    def __init__(
        self,
        secrets: dict[str, str],
        stop: types.CodeType | None,
        *,
        reprs: bool = False,
        opaque: tuple[type, ...] = (),
    ) -> None:
        self.secrets = secrets
        self.stop = stop
        self.reprs = reprs
        self.opaque = _OPAQUE + opaque
        self.seen: set[int] = set()
        self.frames: set[int] = set()
        self.findings: list[Finding] = []
        # values waiting to be looked at, breadth first: (value, path, depth)
        self.pending: collections.deque[tuple[object, str, int]] = collections.deque()

    def run(self) -> None:
        while self.pending:
            value, path, depth = self.pending.popleft()
            self.look(value, path, depth)

    def exception(self, exc: BaseException, path: str) -> None:
        if id(exc) in self.seen:
            return
        self.seen.add(id(exc))
        self.text(str(exc), f"{path} str()")
        self.text(repr(exc), f"{path} repr()")
        self.value(exc.args, f"{path}.args", 0)
        self.value(getattr(exc, "__dict__", {}), f"{path}.__dict__", 0)
        self.frames_of(exc.__traceback__, path)
        for sub in getattr(exc, "exceptions", ()) or ():
            if isinstance(sub, BaseException):
                self.exception(sub, f"{path} group member")
        if exc.__cause__ is not None:
            self.exception(exc.__cause__, f"{path}.__cause__")
        if exc.__context__ is not None:
            self.exception(exc.__context__, f"{path}.__context__")

    def frames_of(self, tb: types.TracebackType | None, path: str) -> None:
        innermost: types.FrameType | None = None
        while tb is not None:
            if tb.tb_frame.f_code is not self.stop:  # the caller's frame: its own business
                self.frame(tb.tb_frame, path)
            innermost = tb.tb_frame
            tb = tb.tb_next
        frame = innermost.f_back if innermost is not None else None
        while frame is not None and frame.f_code is not self.stop:
            self.frame(frame, path)
            frame = frame.f_back

    def frame(self, frame: types.FrameType, path: str) -> None:
        if id(frame) in self.frames:
            return
        self.frames.add(id(frame))
        where = (
            f"{path} / frame {frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
        )
        for name, value in list(frame.f_locals.items()):
            self.value(value, f"{where} / local {name}", 0)

    def value(self, value: object, path: str, depth: int) -> None:
        if depth <= MAX_DEPTH:
            self.pending.append((value, path, depth))

    def look(self, value: object, path: str, depth: int) -> None:
        if isinstance(value, str):
            self.text(value, path)
            return
        if isinstance(value, bytes | bytearray | memoryview):
            self.text(bytes(value).decode("latin-1"), path)
            return
        if value is None or isinstance(value, int | float | complex | bool):
            return
        if isinstance(value, BaseException):
            self.exception(value, path)
            return
        if isinstance(value, self.opaque) or id(value) in self.seen:
            return
        self.seen.add(id(value))
        if self.reprs:  # what a reporter shows of an object it does not walk
            for show in (repr, str):
                try:
                    self.text(show(value), f"{path} {show.__name__}()")
                except Exception as exc:  # a repr that fails shows its error instead
                    self.text(f"{type(exc).__name__}: {exc}", f"{path} {show.__name__}()")
        if isinstance(value, Mapping):
            try:
                items = list(value.items())
            except Exception:
                items = []
            for key, item in items:
                self.value(key, f"{path} / key", depth + 1)
                self.value(item, f"{path} / [{key!r}]", depth + 1)
        elif isinstance(value, list | tuple | set | frozenset | collections.deque):
            for index, item in enumerate(list(value)):
                self.value(item, f"{path} / [{index}]", depth + 1)
        for name, item in _attributes(value):
            self.value(item, f"{path} / .{name}", depth + 1)

    def text(self, text: str, path: str) -> None:
        for name in find_secrets_in_text(text, self.secrets):
            self.findings.append(Finding(path, name))


def _attributes(value: object) -> Iterator[tuple[str, object]]:
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        yield from list(attributes.items())
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            try:
                yield slot, getattr(value, slot)
            except AttributeError:
                continue


def find_secrets(
    exc: BaseException,
    secrets: dict[str, str],
    *,
    stop: types.CodeType | None = None,
    also: Mapping[str, object] | None = None,
    opaque: tuple[type, ...] = (),
) -> list[Finding]:
    """Every place ``exc`` (its chain, its frames, their locals) holds one of ``secrets``.

    :param secrets: name -> value, e.g. ``{"api key": key, "Secret-Key": secret}``.
    :param stop: the code object of the caller's frame: the ``f_back`` walk ends there, and
        the traceback's walk passes it over (the caller's own locals are its business).
    :param also: more objects to walk, by name: what the caller's frame holds that a
        reporter records (the client or transport whose method raised).
    :param opaque: types not walked: the application's own objects that hold the keys as
        the user configured them (a Flask app and its ``config``).
    """
    walk = _Walk(secrets, stop, opaque=opaque)
    walk.exception(exc, "error")
    for name, root in (also or {}).items():
        walk.value(root, f"{name}", 0)
    walk.run()
    return walk.findings


def find_secrets_in_object(
    value: object, secrets: dict[str, str], *, opaque: tuple[type, ...] = ()
) -> tuple[list[Finding], set[type]]:
    """Every place ``value`` holds one of ``secrets``, and the types of the objects walked.

    The walk of :func:`find_secrets` from one object (a configuration, a transport), with
    each object's ``repr`` and ``str`` searched as well (a reporter shows those of what it
    does not walk). ``opaque`` types are neither walked nor shown: objects of the
    application's own (a Flask app and its ``config``) that hold the keys as the user gave
    them.
    """
    walk = _Walk(secrets, None, reprs=True, opaque=opaque)
    walk.value(value, type(value).__name__, 0)
    walk.run()
    return walk.findings, _types_of(value, opaque)


def _types_of(value: object, opaque: tuple[type, ...]) -> set[type]:
    seen: set[int] = set()
    found: set[type] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bytes, int, float, *_OPAQUE, *opaque)):
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        found.add(type(item))
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            stack += list(item)
        else:
            stack += [v for _, v in _attributes(item)]
    return found


def summarise(findings: Iterable[Finding], limit: int = 8) -> str:
    """A few findings, one a line, for an assertion message."""
    lines = [str(f) for f in findings]
    more = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))
