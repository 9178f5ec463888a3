"""Calls built from a table of values by parameter name, for the adapters' boundary tests.

The adapters' boundary tests discover their public callables (a package's ``__all__``, the
public methods of its classes) and call each one with arguments taken from a table keyed by
parameter name. A parameter the table does not know fails the test, so a new public
callable, or a new parameter, is covered or reported, never silently left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from twofactor_notify.errors import TwoFactorError

from .secret_scan import find_secrets, summarise

#: The packages of this project: methods inherited from elsewhere are not its public API.
OWN_PACKAGES = ("twofactor_notify", "django_twofactor", "flask_twofactor", "otp_twofactor")

__all__ = [
    "OWN_PACKAGES",
    "Call",
    "Fresh",
    "arguments",
    "assert_no_secret_in",
    "call_with_values",
    "expand",
    "invoke",
    "public_functions",
    "public_methods",
]


@dataclass(frozen=True)
class Call:
    """One public callable, with one choice among its "exactly one of" parameters."""

    name: str
    function: Callable[..., Any]
    owner: type | None = None
    chosen: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        extra = f"[{','.join(sorted(self.chosen))}]" if self.chosen else ""
        return self.name + extra


def public_functions(module: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The functions a module lists in ``__all__`` (by its name), in order."""
    for name in module.__all__:
        member = getattr(module, name)
        if inspect.isfunction(member):
            yield f"{module.__name__}.{name}", member


def public_methods(cls: type) -> Iterator[tuple[str, str]]:
    """``(label, name)`` of the public methods ``cls`` and its bases of this project define
    (plain functions, not properties, static or class methods)."""
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if not member.__module__.startswith(OWN_PACKAGES):  # Django's, django-otp's
            continue
        if isinstance(inspect.getattr_static(cls, name), staticmethod | classmethod):
            continue
        yield f"{cls.__name__}.{name}", name


def expand(calls: Iterable[Call], choices: dict[str, tuple[frozenset[str], ...]]) -> list[Call]:
    """Each call once per choice of its "exactly one of" parameters (``choices`` by name)."""
    out = []
    for call in calls:
        short = call.function.__name__
        for chosen in choices.get(short, (frozenset(),)):
            out.append(Call(call.name, call.function, call.owner, chosen))
    return out


def arguments(
    function: Callable[..., Any],
    values: dict[str, Any],
    left_at_default: set[str],
    chosen: frozenset[str],
    where: str,
    *,
    skip_first: bool = False,
) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for ``function`` from ``values``.

    Required parameters and optional ones found in ``values`` are passed; an optional
    parameter listed in ``chosen`` is passed only when the call chose it (``verify_otp``'s
    ``session_id`` or ``phone``). A parameter in neither table fails the test.
    """
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    parameters = list(inspect.signature(function).parameters.values())
    for parameter in parameters[1:] if skip_first else parameters:
        name = parameter.name
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in values and name not in left_at_default:
            pytest.fail(f"{where}: no entry for parameter {name!r} in VALUES or LEFT_AT_DEFAULT")
        required = parameter.default is parameter.empty
        if not required and (name not in values or (chosen and name not in chosen)):
            continue
        if required and name not in values:
            pytest.fail(f"{where}: parameter {name!r} is required but has no value in VALUES")
        value = values[name]
        value = value() if isinstance(value, Fresh) else value
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and required:
            args.append(value)
        else:
            kwargs[name] = value
    return args, kwargs


@dataclass(frozen=True)
class Fresh:
    """A value made anew for each call (an iterator, a list the call may consume)."""

    make: Callable[[], Any]

    def __call__(self) -> Any:
        return self.make()


def invoke(function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run the call (consuming an iterator it returns); the exception it raised, if any.

    The tests walk an error's frames up to this function's frame (``stop=invoke.__code__``):
    the caller's frame, where the OTP passed in is the caller's own.
    """
    try:
        result = function(*args, **kwargs)
        if isinstance(result, Iterator):
            list(result)
    except BaseException as exc:
        return exc
    return None


def call_with_values(
    call: Call,
    function: Callable[..., Any],
    values: dict[str, Any],
    left_at_default: set[str],
) -> BaseException | None:
    """Run ``function`` (``call``'s function, or the same method bound to an instance of its
    owner) with arguments from ``values``: the exception it raised, if any (see :func:`invoke`)."""
    args, kwargs = arguments(
        call.function,
        values,
        left_at_default,
        call.chosen,
        str(call),
        skip_first=call.owner is not None,
    )
    return invoke(function, args, kwargs)


def assert_no_secret_in(
    error: BaseException, secrets: dict[str, str], where: str, *, opaque: tuple[type, ...] = ()
) -> None:
    """No frame of ``error`` below :func:`invoke`'s holds one of ``secrets``, and it is a
    :class:`TwoFactorError` (``where`` names the call and the fault in the messages)."""
    findings = find_secrets(error, secrets, stop=invoke.__code__, opaque=opaque)
    assert not findings, f"{where} ({error!r}):\n{summarise(findings)}"
    assert isinstance(error, TwoFactorError), f"{where} raised {error!r}"
