"""No frame of an error the Flask extension raises holds the OTP or the key, under every fault.

The public callables are discovered: the public methods of the classes and the functions
that ``flask_twofactor`` and ``flask_twofactor.login`` list in ``__all__``. Each is called
inside a request of an app sending to the emulator, with arguments from :data:`VALUES` (a
parameter it does not know fails the test): first without a fault (the call must succeed),
then under each fault of the core's boundary test. The error is walked (its chain, its
frames, their locals) for the API key and the OTP passed in.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, session
from flask.config import Config

import flask_twofactor
from flask_twofactor import login
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import BulkMessage

from ..boundary_calls import (
    Call,
    Fresh,
    assert_no_secret_in,
    call_with_values,
    expand,
    public_functions,
    public_methods,
)
from ..core.test_secrets_at_the_boundary import FAULTS, SMS_OPTIONS, Fault
from .conftest import E164, PHONE, AppFactory

OTP = "482913"  # the code sent or verified: the caller's, in no frame below its own
SESSION_ID = "7d3c5f0e-2b1a-4c6d-9e8f-0a1b2c3d4e5f"

VALUES: dict[str, Any] = {
    "to": PHONE,
    "phone": PHONE,
    "text": "hello",
    "code": OTP,
    "otp": OTP,
    "session_id": SESSION_ID,
    "messages": Fresh(lambda: [BulkMessage(to=PHONE, text="hello", sender="TFACTR")]),
}
LEFT_AT_DEFAULT = {
    "app",
    "template",
    "length",
    "include_otp",
    "metadata",
    "sender",
    *SMS_OPTIONS,
    "background",
    "key",
    "chunk_size",
    "on_verified",
}
CHOICES = {"verify_otp": (frozenset({"session_id"}), frozenset({"phone"}))}
#: Public callables not called, with why.
NOT_CALLED = {"TwoFactor.init_app": "sets an app up; sends nothing, takes no code"}
#: Classes whose methods are not called, with why (interfaces are never called).
NOT_CALLED_CLASSES = {"MemoryAttemptStore": "counts attempts in memory: no 2Factor, no code"}


def _calls() -> list[Call]:
    calls: list[Call] = []
    for module in (flask_twofactor, login):
        calls += [Call(label, fn) for label, fn in public_functions(module)]
        for name in module.__all__:
            cls = getattr(module, name)
            if (
                inspect.isclass(cls)
                and not issubclass(cls, BaseException)
                and not getattr(cls, "_is_protocol", False)
                and cls.__name__ not in NOT_CALLED_CLASSES
            ):
                calls += [Call(lb, getattr(cls, n), cls) for lb, n in public_methods(cls)]
    unique = {c.name: c for c in calls if c.name not in NOT_CALLED}
    return expand(unique.values(), CHOICES)


CALLS = _calls()


@pytest.fixture
def point(make_app: AppFactory, twofactor_emulator: Emulator, closed_port: int) -> Iterator[Any]:
    """``point(fault)``: an app sending to the emulator under ``fault`` (or to nothing)."""

    def make(fault: Fault | None) -> Flask:
        url = (
            twofactor_emulator.url if fault is None else fault.aim(twofactor_emulator, closed_port)
        )
        return make_app(
            TWOFACTOR_BACKEND="2factor",
            TWOFACTOR_SUPPRESS=False,
            TWOFACTOR_API_KEY=twofactor_emulator.api_key,
            TWOFACTOR_BASE_URL=url,
            TWOFACTOR_TIMEOUT=0.5,  # the timeout fault (2 s) outlasts it
        )

    yield make
    twofactor_emulator.clear_faults()


def _run(app: Flask, twofactor: flask_twofactor.TwoFactor, call: Call) -> BaseException | None:
    with app.test_request_context("/"):
        # a login in progress, as request_code leaves it: verify_code asks 2Factor
        session[login.PENDING_KEY] = {
            "phone": E164,
            "session_id": SESSION_ID,
            "attempts": 0,
            "sent_at": 0.0,
        }
        if call.owner is None:
            function = call.function
        else:
            instance = twofactor if call.owner is flask_twofactor.TwoFactor else call.owner()
            function = getattr(instance, call.function.__name__)
        return call_with_values(call, function, VALUES, LEFT_AT_DEFAULT)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_the_values_make_valid_calls(
    point: Any, twofactor: flask_twofactor.TwoFactor, call: Call
) -> None:
    error = _run(point(None), twofactor, call)
    assert error is None, f"{call} failed without a fault: {error!r}"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_no_frame_of_a_raised_error_holds_the_otp_or_the_key(
    point: Any,
    twofactor: flask_twofactor.TwoFactor,
    twofactor_emulator: Emulator,
    call: Call,
    fault: Fault,
) -> None:
    error = _run(point(fault), twofactor, call)
    if error is None:
        return  # the call answers the failure itself (verify_code: False): no frame
    secrets = {"API key": twofactor_emulator.api_key, "OTP": OTP}
    # the app and its config hold the key as the user gave it: the application's own
    assert_no_secret_in(error, secrets, f"{call} under {fault.name}", opaque=(Flask, Config))


def test_the_discovery_reaches_the_callables_that_take_a_code() -> None:
    names = {c.name for c in CALLS}
    assert {
        "TwoFactor.send_otp",
        "TwoFactor.verify_otp",
        "PhoneLogin.request_code",
        "PhoneLogin.verify_code",
        "flask_twofactor.login.verify_code",
    } <= names
    assert set(NOT_CALLED) <= {label for label, _ in public_methods(flask_twofactor.TwoFactor)}
    assert set(NOT_CALLED_CLASSES) <= set(login.__all__)
