"""Public methods hand out the library's errors, and nothing chained to them.

Error reporters record every frame an error passed through and follow ``__cause__`` and
``__context__`` to the errors before it. An error from requests or urllib3 carries the URL
that was sent (the API key is in it), and the frames below the client hold whatever they
held. So each public method of the client, of the transports and of the command line ends
its own failures: a :class:`~twofactor_notify.errors.TwoFactorError` leaves with its chain
cut, and an exception that came out of the wire stack (requests, urllib3, ``http.client``,
``ssl``, ``socket``, the key-placing layer, a codec) is replaced by a ``TwoFactorError`` that
names its type, without chaining it. Exceptions raised by the caller's own code that the
library calls (a plugin, the iterable of a bulk send) pass through unchanged: they are the
caller's, and no frame below them holds a key, because no frame above the wire layer ever
does (see :mod:`twofactor_notify.credentials`). One that the caller's code raised while a
request was on the stack (a signal handler's) keeps its type, but leaves without its frames
and its chain, as ``KeyboardInterrupt`` does: the wire's frames were among them. An
exception the library itself raised (a bug, or an interruption while it ran) keeps its type
and leaves bare too: the library's frames hold the call's OTP and numbers. Whose code raised
an exception is read from its innermost frame (:func:`raised_by`).

Classes opt in with :class:`ErrorBoundary`: every public method a subclass defines, now or
later, gets the boundary, so a new endpoint cannot forget it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import TwoFactorError
from .redaction import redact

__all__ = [
    "ErrorBoundary",
    "at_boundary",
    "convert_failure",
    "detach",
    "from_the_wire",
    "raised_by",
    "raised_by_the_wire",
]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__twofactor_boundary__"
_STRIPPED = "__twofactor_stripped__"
#: Modules whose frames mark an exception as coming out of the wire stack.
_WIRE_MODULES = (
    "requests",
    "urllib3",
    "http.client",
    "ssl",
    "socket",
    "twofactor_notify.credentials",
    "twofactor_notify.codec",
)
#: The library's own packages: an exception raised in them (not the wire) is the library's.
_LIBRARY_PACKAGES = frozenset(
    {"twofactor_notify", "django_twofactor", "flask_twofactor", "otp_twofactor", "celery_twofactor"}
)


def from_the_wire(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception in its chain) was raised in the wire stack."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _wire_frame(current.__traceback__):
            return True
        todo += [current.__cause__, current.__context__]
    return False


def raised_by_the_wire(exc: BaseException) -> bool:
    """True when the wire stack itself raised ``exc``, not code it happened to be running
    (see :func:`raised_by`)."""
    return raised_by(exc) == "wire"


def raised_by(exc: BaseException) -> str:
    """Whose code raised ``exc``: ``"wire"``, ``"library"`` or ``"caller"``.

    The innermost frame decides, passing over the standard library and installed packages
    (Django's ORM, redis-py, pluggy...) that either side calls: the wire stack's modules
    first, then the library's own packages; any other code is the caller's (a plugin, a
    signal handler, the iterable of a bulk send). A signal handler of the caller's that
    raised while a request was on the stack has its own frame innermost.
    """
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = str(frame.f_globals.get("__name__", ""))
        if _is_wire(module):
            return "wire"
        if module.partition(".")[0] in _LIBRARY_PACKAGES:
            return "library"
        if module.partition(".")[0] in sys.stdlib_module_names or _installed(frame):
            continue
        return "caller"
    return "library"  # nothing but the standard library and packages, below the boundary


def _installed(frame: types.FrameType) -> bool:
    path = frame.f_code.co_filename.replace("\\", "/")
    return "/site-packages/" in path or "/dist-packages/" in path


def _module(tb: types.TracebackType) -> str:
    return str(tb.tb_frame.f_globals.get("__name__", ""))


def _is_wire(module: str) -> bool:
    return module.startswith(_WIRE_MODULES) and (
        module in _WIRE_MODULES or module.partition(".")[0] in ("requests", "urllib3")
    )


def _wire_frame(tb: types.TracebackType | None) -> bool:
    while tb is not None:
        if _is_wire(_module(tb)):
            return True
        tb = tb.tb_next
    return False


def convert_failure(exc: BaseException, where: str) -> TwoFactorError:
    """``exc`` itself if it is the library's error, else a ``TwoFactorError`` naming it.

    The replacement keeps the type's name and the (redacted, shortened) text, not the
    exception: its frames and its own chain stay behind.
    """
    if isinstance(exc, TwoFactorError):
        return exc
    text = redact(str(exc)).strip()
    if len(text) > 200:
        text = text[:199] + "…"
    error = TwoFactorError(f"{where} failed: {type(exc).__name__}" + (f": {text}" if text else ""))
    error.outcome_unknown = bool(getattr(exc, "outcome_unknown", False))
    return error


def detach(error: BaseException) -> BaseException:
    """Cut ``error`` from the exceptions it was raised during or from."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def _bare(error: BaseException) -> BaseException:
    """``error`` detached from its chain and from the frames it was raised through.

    Error reporters record the local variables of every frame of a traceback; below a
    boundary those hold the caller's OTP, numbers and texts. The error keeps its type, its
    text and its attributes (``field``, ``outcome_unknown``...), which say what went wrong.
    """
    with contextlib.suppress(AttributeError):  # an exception type with slots: no mark
        setattr(error, _STRIPPED, True)
    return detach(error).with_traceback(None)


def _stripped_below(exc: BaseException) -> bool:
    """True when an inner boundary already took ``exc``'s frames: every boundary it passes
    on the way out takes them again (the frames between two boundaries hold the arguments)."""
    return bool(getattr(exc, _STRIPPED, False))


def at_boundary(function: F, where: str | None = None) -> F:
    """Wrap ``function`` so that its failures leave as detached library errors.

    An iterator it returns is wrapped too: its failures surface while it is consumed.
    The caller's own exceptions pass unchanged; every other one leaves bare (see
    :func:`_outgoing`), ``KeyboardInterrupt`` and ``SystemExit`` keeping their type.
    """
    if getattr(function, _MARK, False):
        return function
    name = where or function.__qualname__

    @functools.wraps(function)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:
            error = _outgoing(exc, name)
            if error is None:
                raise  # the caller's own exception (a plugin's, an input iterable's)
        else:
            if isinstance(result, Iterator):
                return _guarded(result, name)
            return result
        # The arguments (an OTP, a number) are the caller's: they stay in the caller's frame
        # and leave this one, and the error leaves without the library's frames below it.
        del args, kwargs
        raise error  # raised outside the except block: nothing is chained

    setattr(boundary, _MARK, True)
    return boundary  # type: ignore[return-value]


def _outgoing(exc: BaseException, where: str) -> BaseException | None:
    """What leaves a boundary in place of ``exc``; ``None`` when ``exc`` leaves as it is.

    - the library's error: itself, bare;
    - an exception the wire stack raised: a ``TwoFactorError`` naming it, bare
      (``KeyboardInterrupt``, ``SystemExit``: themselves, bare);
    - one the library raised (a bug, an interruption while the library ran): itself, bare;
    - the caller's: itself, as it was, unless the wire was below it or an inner boundary
      stripped it already; then bare.
    """
    if isinstance(exc, TwoFactorError):
        return _bare(exc)
    owner = raised_by(exc)
    if owner == "wire" and isinstance(exc, Exception):
        return _bare(convert_failure(exc, where))
    if owner != "caller" or from_the_wire(exc) or _stripped_below(exc):
        return _bare(exc)
    return None


def _guarded(iterator: Iterator[Any], where: str) -> Iterator[Any]:
    try:
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except BaseException as exc:
                error = _outgoing(exc, where)
                if error is None:
                    raise
            else:
                yield item
                continue
            raise error  # outside the except block: nothing is chained
    finally:
        if isinstance(iterator, types.GeneratorType):
            iterator.close()  # stopped early (an error, the consumer's break): it ends too


class ErrorBoundary:
    """Mixin: every public method of a subclass is wrapped by :func:`at_boundary`.

    Public means a plain function whose name does not start with ``_``, defined in the
    subclass's body (properties, static and class methods are left alone).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            setattr(cls, name, at_boundary(member, f"{cls.__name__}.{name}"))
