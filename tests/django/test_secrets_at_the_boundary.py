"""No frame of an error the Django app raises holds the OTP or a key, under every fault.

The public callables are discovered: the functions of ``django_twofactor.__all__``, the
public methods of the classes listed in ``__all__`` by the modules a project sends or
verifies through (the authentication backend, the two_factor gateway, every SMS backend),
and the public methods the django-otp device defines. Each is called with arguments from
:data:`VALUES` (a parameter it does not know fails the test), first without a fault (the
call must succeed, so that under a fault it fails at 2Factor, not on its arguments), then
under each fault of the core's boundary test. The error is walked (its chain, its frames,
their locals) for the API key, the Secret-Key and the OTP passed in. Django's DEBUG page,
which prints every frame's locals, is checked too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import path

import django_twofactor
import django_twofactor.backends
from django_twofactor import auth, gateway
from django_twofactor.backends.base import BaseSMSBackend
from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator
from twofactor_notify.models import BulkBatch, BulkMessage, OTPMessage, SMSMessage

from ..boundary_calls import (
    Call,
    Fresh,
    assert_no_secret_in,
    call_with_values,
    expand,
    public_functions,
    public_methods,
)
from ..core.test_secrets_at_the_boundary import FAULTS, Fault
from .conftest import PHONE, emulator_settings

OTP = "482913"  # the code sent or verified: the caller's, in no frame below its own
SESSION_ID = "7d3c5f0e-2b1a-4c6d-9e8f-0a1b2c3d4e5f"


class Device:
    """What django-two-factor-auth hands a gateway: an object with a ``number``."""

    number = PHONE


VALUES: dict[str, Any] = {
    "to": PHONE,
    "phone": PHONE,
    "text": "hello",
    "code": OTP,
    "otp": OTP,
    "token": OTP,
    "session_id": SESSION_ID,
    "device": Device(),
    "request": None,
    "backend": "memory",  # the core transport a backend builds
    "user_id": 1,
    "user": Fresh(lambda: get_user_model()(username="bob")),
    "datatuple": Fresh(lambda: [(PHONE, "hello")]),
    "messages": Fresh(
        lambda: [
            OTPMessage(to=PHONE, otp=OTP),
            SMSMessage(to=(PHONE,), text="hello", sender="TFACTR"),
            BulkBatch(messages=(BulkMessage(to=PHONE, text="hello", sender="TFACTR"),)),
        ]
    ),
}
#: Optional parameters left at their default.
LEFT_AT_DEFAULT = {
    "sender",
    "fail_silently",
    "background",
    "key",
    "callback_format",
    "chunk_size",
    "template",
    "length",
    "metadata",
    "commit",
    "valid_secs",
    "force_insert",
    "force_update",
    "using",
    "update_fields",
    "transport_class",
}
#: "Exactly one of" parameters: one call per choice.
CHOICES = {"verify_otp": (frozenset({"session_id"}), frozenset({"phone"}))}
#: Callables that refuse every call by design, with why.
REFUSING = {"TwoFactorGateway.make_call": "2Factor voice calls are not supported"}


def _backend_classes() -> list[type[BaseSMSBackend]]:
    for info in pkgutil.iter_modules(django_twofactor.backends.__path__):
        importlib.import_module(f"django_twofactor.backends.{info.name}")
    found, pending = set(), list(BaseSMSBackend.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not inspect.isabstract(cls) and cls.__module__.startswith("django_twofactor"):
            found.add(cls)
    return sorted(found, key=lambda c: c.__name__)


def _listed_classes(*modules: Any) -> list[type]:
    return [
        member
        for module in modules
        for member in (getattr(module, name) for name in module.__all__)
        if inspect.isclass(member) and not issubclass(member, BaseException)
    ]


def _device_methods() -> list[Call]:
    # the methods the device defines itself (django-otp's and Django's are theirs)
    return [
        Call(label, getattr(TwoFactorSMSDevice, name), TwoFactorSMSDevice)
        for label, name in public_methods(TwoFactorSMSDevice)
        if name in vars(TwoFactorSMSDevice)
    ]


def _calls() -> list[Call]:
    calls = [Call(label, fn) for label, fn in public_functions(django_twofactor)]
    for cls in [*_listed_classes(auth, gateway), *_backend_classes()]:
        prefix = cls.__module__.rpartition(".")[2] + "." if cls.__name__ == "SMSBackend" else ""
        calls += [
            Call(prefix + label, getattr(cls, name), cls) for label, name in public_methods(cls)
        ]
    return expand([*calls, *_device_methods()], CHOICES)


CALLS = _calls()


@pytest.fixture
def configured(settings: Any, twofactor_emulator: Emulator, closed_port: int, tmp_path: Any) -> Any:
    """Returns ``point(fault)``: the settings aimed at the emulator (or a closed port)."""
    settings.OTP_TWOFACTOR_MODE = "remote"
    settings.OTP_TWOFACTOR_NO_DELIVERY = False
    settings.OTP_TWOFACTOR_TRANSPORT = None  # the app's own: TWOFACTOR_NOTIFY's

    def point(fault: Fault | None) -> None:
        url = (
            twofactor_emulator.url if fault is None else fault.aim(twofactor_emulator, closed_port)
        )
        settings.TWOFACTOR_NOTIFY = {
            **emulator_settings(twofactor_emulator),
            "BASE_URL": url,
            "TIMEOUT": 0.5,  # the timeout fault (2 s) outlasts it
            "FILE_PATH": str(tmp_path),  # for the file backend
        }

    return point


def _target(call: Call) -> Any:
    if call.owner is None:
        return call.function
    if call.owner is TwoFactorSMSDevice:
        user = get_user_model().objects.create_user("alice")  # type: ignore[attr-defined]
        instance: Any = TwoFactorSMSDevice.objects.create(user=user, name="phone", number=PHONE)
        instance.otp_session_id = SESSION_ID  # a pending remote code: verify_token asks 2Factor
        instance.valid_until = instance.valid_until.replace(year=instance.valid_until.year + 1)
        instance.save()
    else:
        instance = call.owner()
    return getattr(instance, call.function.__name__)


def _run(call: Call) -> BaseException | None:
    return call_with_values(call, _target(call), VALUES, LEFT_AT_DEFAULT)


@pytest.mark.django_db
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_the_values_make_valid_calls(configured: Any, call: Call) -> None:
    configured(None)
    error = _run(call)
    if call.name in REFUSING:
        assert error is not None, f"{call} no longer refuses: drop it from REFUSING"
        return
    assert error is None, f"{call} failed without a fault: {error!r}"


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_no_frame_of_a_raised_error_holds_the_otp_or_a_key(
    configured: Any, twofactor_emulator: Emulator, call: Call, fault: Fault
) -> None:
    configured(fault)
    try:
        error = _run(call)
    finally:
        twofactor_emulator.clear_faults()
    if error is None:
        return  # nothing raised (an in-memory backend, a failure the call answers): no frame
    secrets = {
        "API key": twofactor_emulator.api_key,
        "Secret-Key": twofactor_emulator.secret_key,
        "OTP": OTP,
    }
    assert_no_secret_in(error, secrets, f"{call} under {fault.name}")


def test_the_discovery_reaches_the_callables_that_take_a_code() -> None:
    names = {c.name for c in CALLS}
    assert {
        "django_twofactor.verify_otp",
        "django_twofactor.send_otp",
        "PhoneOTPBackend.authenticate",
        "TwoFactorGateway.send_sms",
        "twofactor.SMSBackend.send_messages",
        "TwoFactorSMSDevice.deliver_challenge",
        "TwoFactorSMSDevice.verify_token",
        "TwoFactorSMSDevice.generate_challenge",
    } <= names


# ------------------------------------------------------------------ Django's DEBUG page


def _verify_view(request: Any) -> Any:
    # The code is read from a global: the view's own frame (which the DEBUG page shows,
    # and DEBUG filters nothing) holds no copy, so any copy on the page is from a frame below.
    django_twofactor.verify_otp(OTP, phone=PHONE)
    raise AssertionError("not reached: the fault makes the verification fail")


urlpatterns = [path("verify/", _verify_view)]


@pytest.mark.django_db
def test_the_debug_page_shows_the_code_in_no_frame(
    configured: Any, settings: Any, twofactor_emulator: Emulator
) -> None:
    """The DEBUG page prints the locals of every frame of the error: none below the view's
    may hold the code (nor the key)."""
    configured(Fault("503", "status", (("status", 503),)))
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    try:
        response = client.get("/verify/", HTTP_ACCEPT="text/html")
    finally:
        twofactor_emulator.clear_faults()
    page = response.content.decode()
    assert response.status_code == 500
    assert "ServerError" in page  # the page of the error under test
    assert OTP not in page
    assert twofactor_emulator.api_key not in page
