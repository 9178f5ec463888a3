"""Whose code raised an exception decides what leaves a boundary (``raised_by``).

Functions are compiled here under module names of each owner (the library's packages, the
caller's code), so that each path of the classification runs for real, frames and all."""

from __future__ import annotations

import types
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from twofactor_notify.boundary import _LIBRARY_PACKAGES, at_boundary, raised_by
from twofactor_notify.errors import TwoFactorError

OTP = "739184"

SOURCE = """
def crash(callback=None):
    otp = OTP  # what the library's frames hold: the call's OTP
    if callback is not None:
        return callback()
    return {}["missing"]

def crash_in_json():
    otp = OTP
    import json
    return json.loads("{")

def generate(callback=None):
    otp = OTP
    yield 1
    if callback is not None:
        callback()
    {}["missing"]
"""


def _module(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name, "OTP": OTP}
    exec(compile(SOURCE, f"<{name}>", "exec"), namespace)  # noqa: S102
    return namespace


def _frames(error: BaseException) -> list[types.FrameType]:
    found = []
    tb = error.__traceback__
    while tb is not None:
        found.append(tb.tb_frame)
        tb = tb.tb_next
    return found


def _holds_otp(error: BaseException) -> bool:
    return any(OTP in map(str, frame.f_locals.values()) for frame in _frames(error))


@pytest.mark.parametrize("package", sorted(_LIBRARY_PACKAGES))
@pytest.mark.parametrize("entry", ["crash", "crash_in_json"])
def test_an_exception_the_library_raised_leaves_bare_with_its_type(
    package: str, entry: str
) -> None:
    library = _module(f"{package}._probe")
    with pytest.raises(Exception) as info:
        at_boundary(library[entry])()
    error = info.value
    assert not isinstance(error, TwoFactorError)
    assert type(error) in (KeyError, ValueError) or issubclass(type(error), ValueError)
    assert error.__context__ is None and error.__cause__ is None
    assert not _holds_otp(error), "a frame of the library's below the boundary left with it"


@pytest.mark.parametrize("raised", [KeyboardInterrupt, RuntimeError])
def test_the_callers_exception_leaves_as_it_was(raised: type[BaseException]) -> None:
    library = _module("twofactor_notify._probe")

    def callback() -> None:  # the caller's (this test module's) code
        raise raised("the caller's")

    with pytest.raises(raised) as info:
        at_boundary(library["crash"])(callback)
    names = [frame.f_globals.get("__name__") for frame in _frames(info.value)]
    assert names[-1] == __name__  # its own frames are still there, for its debugging
    assert raised_by(info.value) == "caller"


def test_an_iterator_the_library_returned_is_guarded_and_closed() -> None:
    library = _module("twofactor_notify._probe")
    iterator: Iterator[int] = at_boundary(library["generate"])()
    assert next(iterator) == 1
    with pytest.raises(KeyError) as info:
        next(iterator)
    assert not _holds_otp(info.value) and info.value.__context__ is None

    inner = library["generate"]()
    guarded: Generator[int, None, None] = at_boundary(lambda: inner)()
    assert next(guarded) == 1
    guarded.close()  # the consumer stopped early (a break, an error of its own)
    assert inner.gi_frame is None  # the library's generator was closed, not left suspended
