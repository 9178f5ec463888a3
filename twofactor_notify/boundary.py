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
does (see :mod:`twofactor_notify.credentials`).

Classes opt in with :class:`ErrorBoundary`: every public method a subclass defines, now or
later, gets the boundary, so a new endpoint cannot forget it.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import TwoFactorError
from .redaction import redact

__all__ = ["ErrorBoundary", "at_boundary", "convert_failure", "detach", "from_the_wire"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__twofactor_boundary__"
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


def _wire_frame(tb: types.TracebackType | None) -> bool:
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_WIRE_MODULES) and (
            module in _WIRE_MODULES or module.partition(".")[0] in ("requests", "urllib3")
        ):
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
    return detach(error).with_traceback(None)


def at_boundary(function: F, where: str | None = None) -> F:
    """Wrap ``function`` so that its failures leave as detached library errors.

    An iterator it returns is wrapped too: its failures surface while it is consumed.
    ``KeyboardInterrupt``, ``SystemExit`` and the caller's own exceptions pass unchanged.
    """
    if getattr(function, _MARK, False):
        return function
    name = where or function.__qualname__

    @functools.wraps(function)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except TwoFactorError as exc:
            error = exc
        except Exception as exc:
            if not from_the_wire(exc):
                raise  # the caller's own exception (a plugin's, an input iterable's)
            error = convert_failure(exc, name)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: passed on as they are,
            if not from_the_wire(exc):  # but without the wire frames below (keyed URLs)
                raise
            del args, kwargs
            raise _bare(exc) from None
        else:
            if isinstance(result, Iterator) and not isinstance(result, str | bytes):
                return _guarded(result, name)
            return result
        # The arguments (an OTP, a number) are the caller's: they stay in the caller's frame
        # and leave this one, and the error leaves without the library's frames below it.
        del args, kwargs
        raise _bare(error)  # raised outside the except block: nothing is chained

    setattr(boundary, _MARK, True)
    return boundary  # type: ignore[return-value]


def _guarded(iterator: Iterator[Any], where: str) -> Iterator[Any]:
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except TwoFactorError as exc:
            error = exc
        except Exception as exc:
            if not from_the_wire(exc):
                raise
            error = convert_failure(exc, where)
        else:
            yield item
            continue
        raise _bare(error)


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
