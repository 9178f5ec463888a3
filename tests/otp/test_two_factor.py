"""The "SMS via 2Factor" method in django-two-factor-auth's wizards, and a failed SMS as a
form error in them -- for this project's device and for two_factor's own phone device
sending through django_twofactor's gateway. Against the emulator, through Django's client."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.test import Client
from django_otp.util import random_hex
from two_factor.plugins.phonenumber.models import PhoneDevice
from two_factor.plugins.registry import registry
from two_factor.utils import default_device

from otp_twofactor.models import TwoFactorSMSDevice
from otp_twofactor.two_factor.method import TwoFactorSMSMethod
from twofactor_notify.emulator import Emulator

from .conftest import NUMBER, PASSWORD, wrong_code

pytestmark = pytest.mark.django_db

LOGIN = "/account/login/"
SETUP = "/account/two_factor/setup/"
PHONE_CREATE = "/account/two_factor/phone/register/"
FAILED = "The code could not be sent"


@pytest.fixture(autouse=True)
def two_factor_settings(settings: Any, emulator: Emulator) -> Any:
    """two_factor's URLs through ours; its phone method sends through the gateway.

    The cache holds the views' cooldowns: each test starts with none running.
    """
    cache.clear()
    settings.ROOT_URLCONF = "tests.otp.two_factor_urls"
    settings.LOGIN_URL = LOGIN
    settings.LOGIN_REDIRECT_URL = "/secret/"
    settings.TWO_FACTOR_SMS_GATEWAY = "django_twofactor.gateway.TwoFactorGateway"
    settings.TWOFACTOR_NOTIFY = {
        **copy.deepcopy(django_settings.TWOFACTOR_NOTIFY),
        "BACKEND": "2factor",
        "API_KEY": emulator.api_key,
        "BASE_URL": emulator.url,
    }
    return settings


def our_device(user: AbstractBaseUser) -> Any:
    return TwoFactorSMSDevice.objects.create(
        user=user, name="default", number=NUMBER, confirmed=True
    )


def phone_device(user: AbstractBaseUser) -> Any:
    return PhoneDevice.objects.create(
        user=user, name="default", number=NUMBER, method="sms", key=random_hex(20), confirmed=True
    )


#: Each kind of SMS device a two_factor user can have with this project.
DEVICES: dict[str, Callable[[AbstractBaseUser], Any]] = {
    "otp_twofactor": our_device,
    "two_factor-gateway": phone_device,
}


def test_method_is_registered() -> None:
    method = registry.get_method("twofactor_sms")
    assert isinstance(method, TwoFactorSMSMethod)
    assert str(method.verbose_name) == "SMS via 2Factor"


def _login_auth(client: Client) -> Any:
    return client.post(
        LOGIN,
        {"login_view-current_step": "auth", "auth-username": "alice", "auth-password": PASSWORD},
    )


def _token(client: Client, code: str) -> Any:
    return client.post(LOGIN, {"login_view-current_step": "token", "token-otp_token": code})


@pytest.mark.parametrize("kind", DEVICES)
def test_login_wizard_asks_for_the_sms_code(
    kind: str, client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    device = DEVICES[kind](user)
    page = _login_auth(client)
    assert page.status_code == 200
    assert 'name="token-otp_token"' in page.content.decode()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None and len(emulator.messages(NUMBER)) == 1

    wrong = _token(client, wrong_code(otp))
    assert wrong.status_code == 200 and "token-otp_token" in wrong.content.decode()
    assert len(emulator.messages(NUMBER)) == 1  # a wrong code sends nothing new

    if kind == "otp_twofactor":
        type(device).objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    else:
        PhoneDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    done = _token(client, otp)
    assert done.status_code == 302 and done["Location"] == "/secret/"
    assert "verified=True" in client.get("/secret/").content.decode()


@pytest.mark.parametrize("kind", DEVICES)
def test_login_wizard_failed_sms_is_a_retryable_form_error(
    kind: str, client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    device = DEVICES[kind](user)
    emulator.inject("status", status=503, match="/SMS/", times=1)

    page = _login_auth(client)

    assert page.status_code == 200  # not a 500
    html = page.content.decode()
    assert html.count(FAILED) == 1 and "Please try again in a moment." in html
    assert NUMBER not in html
    if kind == "otp_twofactor":
        assert "We sent you" not in html and "No text message went out." in html
    # the same device is offered again: its button sends a new code
    assert f'value="{device.persistent_id}"' in html
    assert emulator.messages(NUMBER) == []

    again = client.post(LOGIN, {"challenge_device": device.persistent_id})
    assert again.status_code == 200 and FAILED not in again.content.decode()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    done = _token(client, otp)
    assert done.status_code == 302
    assert "verified=True" in client.get("/secret/").content.decode()


@pytest.mark.parametrize("kind", DEVICES)
def test_our_device_is_listed_among_the_alternatives(
    kind: str, client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    DEVICES[kind](user)  # the primary device
    backup = TwoFactorSMSDevice.objects.create(
        user=user, name="backup", number="+919812345678", confirmed=True
    )
    html = _login_auth(client).content.decode()
    assert f'value="{backup.persistent_id}"' in html
    assert "Send a text message to +91******5678 via 2Factor" in html


def _setup(client: Client, step: str, **fields: str) -> Any:
    data = {"setup_view-current_step": step}
    data.update({f"{step}-{name}": value for name, value in fields.items()})
    return client.post(SETUP, data)


def test_setup_wizard_offers_and_finishes_the_method(
    client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    client.force_login(user)
    assert client.get(SETUP).status_code == 200
    page = _setup(client, "welcome")
    assert "SMS via 2Factor" in page.content.decode()
    _setup(client, "method", method="twofactor_sms")
    page = _setup(client, "twofactor_sms", number="98765 43210")
    assert 'name="validation-token"' in page.content.decode()
    assert "Sent by SMS to +91******3210." in page.content.decode()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    assert "not valid" in _setup(client, "validation", token=wrong_code(otp)).content.decode()
    TwoFactorSMSDevice.objects.update(throttling_failure_timestamp=None)
    done = _setup(client, "validation", token=otp)

    assert done.status_code == 302
    device = TwoFactorSMSDevice.objects.get(user=user)
    assert device.confirmed and device.number == NUMBER and device.name == "default"
    assert default_device(user) == device
    profile = client.get("/account/two_factor/").content.decode()
    assert "Send a text message to +91******3210 via 2Factor" in profile


@pytest.mark.parametrize("method", ["twofactor_sms", "sms"])
def test_setup_wizard_failed_sms_is_a_retryable_form_error(
    method: str, client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    client.force_login(user)
    _setup(client, "welcome")
    _setup(client, "method", method=method)
    emulator.inject("status", status=503, match="/SMS/", times=1)

    typed = NUMBER if method == "sms" else "98765 43210"  # two_factor wants a "+"
    page = _setup(client, method, number=typed)

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count(FAILED) == 1 and "Please try again in a moment." in html
    if method == "twofactor_sms":
        assert "Sent by SMS" not in html and "No code was sent to +91******3210." in html
    # retry: back to the number, next again
    client.post(SETUP, {"setup_view-current_step": "validation", "wizard_goto_step": method})
    page = _setup(client, method, number=typed)
    assert FAILED not in page.content.decode()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    assert _setup(client, "validation", token=otp).status_code == 302


def test_backup_phone_wizard_failed_sms_is_a_form_error(
    client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    device = our_device(user)
    _login_auth(client)
    otp = emulator.last_otp(NUMBER)
    assert otp is not None and _token(client, otp).status_code == 302
    assert client.get(PHONE_CREATE).status_code == 200
    emulator.inject("status", status=503, match="/SMS/", times=1)

    page = client.post(
        PHONE_CREATE,
        {
            "phone_setup_view-current_step": "setup",
            "setup-number": "+919812345678",
            "setup-method": "sms",
        },
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count(FAILED) == 1
    assert "sent" not in html.replace(FAILED, "").replace("could not be sent", "")
    assert device.pk is not None


def test_views_work_without_the_otp_twofactor_apps() -> None:
    # the gateway's users route two_factor through our URLs without installing our apps
    import subprocess
    import sys

    script = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
        "django_otp", "django_otp.plugins.otp_static", "django_otp.plugins.otp_totp",
        "two_factor", "two_factor.plugins.phonenumber", "django_twofactor",
    ],
    ROOT_URLCONF="tests.otp.two_factor_urls",
    TWO_FACTOR_SMS_GATEWAY="django_twofactor.gateway.TwoFactorGateway",
)
django.setup()
from django.urls import resolve, reverse
from otp_twofactor.two_factor import views
for name, view in [("login", views.LoginView), ("setup", views.SetupView),
                   ("phone_create", views.PhoneSetupView)]:
    assert resolve(reverse("two_factor:" + name)).func.view_class is view, name
assert resolve(reverse("two_factor:profile")).func.view_class.__module__.startswith("two_factor")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_setup_with_a_corrected_number_voids_the_first_code_and_keeps_the_cooldown(
    client: Client, user: AbstractBaseUser, emulator: Emulator, settings: Any
) -> None:
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 1
    client.force_login(user)
    _setup(client, "welcome")
    _setup(client, "method", method="twofactor_sms")
    _setup(client, "twofactor_sms", number="98123 45678")  # a typo
    first = emulator.last_otp("+919812345678")
    assert first is not None

    client.post(
        SETUP, {"setup_view-current_step": "validation", "wizard_goto_step": "twofactor_sms"}
    )
    page = _setup(client, "twofactor_sms", number="98765 43210")  # within the cooldown
    html = page.content.decode()
    assert emulator.last_otp(NUMBER) is None  # nothing sent yet
    assert "No new code was sent: you can ask for one in 1 second." in html
    assert "No new code was sent to +91******3210." in html and "Sent by SMS" not in html
    assert "not valid" in _setup(client, "validation", token=first).content.decode()

    time.sleep(1.1)  # the cooldown ends
    TwoFactorSMSDevice.objects.update(throttling_failure_timestamp=None)
    client.post(
        SETUP, {"setup_view-current_step": "validation", "wizard_goto_step": "twofactor_sms"}
    )
    page = _setup(client, "twofactor_sms", number="98765 43210")
    assert "Sent by SMS to +91******3210." in page.content.decode()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None  # sent to the corrected number
    assert _setup(client, "validation", token=otp).status_code == 302
    device = TwoFactorSMSDevice.objects.get(user=user)
    assert device.number == NUMBER and device.confirmed


def _sms_count(emulator: Emulator) -> int:
    return len(emulator.messages())


def _pump_setup(method: str) -> Callable[[Client, AbstractBaseUser, Emulator], str]:
    def pump(client: Client, user: AbstractBaseUser, emulator: Emulator) -> str:
        client.force_login(user)
        html = ""
        for attempt in range(3):  # the wizard started again, each time with other numbers
            client.get(SETUP)
            _setup(client, "welcome")
            _setup(client, "method", method=method)
            for number in (f"+91981234567{attempt}", f"+91987654321{attempt}"):
                html = _setup(client, method, number=number).content.decode()
                client.post(
                    SETUP, {"setup_view-current_step": "validation", "wizard_goto_step": method}
                )
        return html

    return pump


def _pump_phone_create(client: Client, user: AbstractBaseUser, emulator: Emulator) -> str:
    our_device(user)
    _login_auth(client)
    otp = emulator.last_otp(NUMBER)
    assert otp is not None and _token(client, otp).status_code == 302
    emulator.reset()
    html = ""
    for attempt in range(3):
        client.get(PHONE_CREATE)
        for number in (f"+91981234567{attempt}", f"+91987654321{attempt}"):
            step = {"phone_setup_view-current_step": "setup", "setup-method": "sms"}
            html = client.post(PHONE_CREATE, {**step, "setup-number": number}).content.decode()
            client.post(
                PHONE_CREATE,
                {"phone_setup_view-current_step": "validation", "wizard_goto_step": "setup"},
            )
    return html


def _pump_login(kind: str) -> Callable[[Client, AbstractBaseUser, Emulator], str]:
    def pump(client: Client, user: AbstractBaseUser, emulator: Emulator) -> str:
        device = DEVICES[kind](user)
        _login_auth(client)
        html = ""
        for _ in range(4):  # "send a text message" again, and logging in again
            html = client.post(LOGIN, {"challenge_device": device.persistent_id}).content.decode()
        for _ in range(2):
            Client().post(
                LOGIN,
                {
                    "login_view-current_step": "auth",
                    "auth-username": "alice",
                    "auth-password": PASSWORD,
                },
            )
        return html

    return pump


#: For each view of two_factor that sends a challenge (the test below discovers them), ways
#: to ask it for SMS as fast as a script can; each returns the last page it got.
PUMPS: dict[str, dict[str, Callable[[Client, AbstractBaseUser, Emulator], str]]] = {
    "setup": {"twofactor_sms": _pump_setup("twofactor_sms"), "sms": _pump_setup("sms")},
    "phone_create": {"backup-phone": _pump_phone_create},
    "login": {kind: _pump_login(kind) for kind in DEVICES},
}


@pytest.mark.parametrize(
    ("view", "path"), [(view, path) for view, paths in PUMPS.items() for path in paths]
)
def test_no_view_sends_sms_faster_than_the_cooldown(
    view: str, path: str, client: Client, user: AbstractBaseUser, emulator: Emulator
) -> None:
    # Numbers changed, wizards restarted, "send again" pressed: one SMS per cooldown, and
    # the page says how long to wait instead of "we sent you a text message".
    html = PUMPS[view][path](client, user, emulator)
    assert _sms_count(emulator) == 1
    assert html.count("No new code was sent: you can ask for one in ") == 1
    assert "Sent by SMS" not in html
    if path != "two_factor-gateway":  # two_factor's own login text for its phone (documented)
        assert "We sent you" not in html


def _flatten(patterns: Any) -> list[Any]:
    from django.urls import URLResolver

    flat = []
    for pattern in patterns:
        flat += _flatten(pattern.url_patterns) if isinstance(pattern, URLResolver) else [pattern]
    return flat


def test_every_two_factor_view_that_sends_a_challenge_is_replaced() -> None:
    # Discovered, not listed: any two_factor view whose code asks a device for a challenge
    # (and so can meet a failed SMS) must be served by a subclass of ours.
    import inspect

    import two_factor.urls

    from otp_twofactor.two_factor import urls as ours
    from otp_twofactor.two_factor import views

    def sends(view_class: type) -> bool:
        return any(
            "generate_challenge" in inspect.getsource(klass)
            for klass in view_class.__mro__
            if klass.__module__.startswith("two_factor.")
        )

    theirs = {
        p.name: p.callback.view_class
        for p in _flatten(two_factor.urls.urlpatterns[0])
        if hasattr(p.callback, "view_class")
    }
    senders = {name for name, view_class in theirs.items() if sends(view_class)}
    assert {"login", "setup", "phone_create"} <= senders
    assert set(PUMPS) == senders  # each sender is also walked for the cooldown
    mine = {p.name: p.callback.view_class for p in _flatten(ours.urlpatterns)}
    assert set(mine) == set(theirs)  # every URL of two_factor, by the same names
    for name in senders:
        assert issubclass(mine[name], theirs[name]) and mine[name].__module__ == views.__name__
    for name in set(theirs) - senders:
        assert mine[name] is theirs[name]


def _w002() -> list[Any]:
    from django.core.checks import run_checks

    return [m for m in run_checks() if m.id == "otp_twofactor.W002"]


def test_check_warns_when_two_factor_serves_its_own_views(settings: Any) -> None:
    assert _w002() == []  # through otp_twofactor.two_factor.urls

    settings.ROOT_URLCONF = "tests.otp.two_factor_stock_urls"
    (warning,) = _w002()
    assert "two_factor:login, two_factor:setup" in warning.msg
    assert "otp_twofactor.two_factor.urls" in warning.hint

    settings.ROOT_URLCONF = "tests.otp.urls"  # two_factor not routed at all
    assert _w002() == []


@pytest.mark.parametrize("method", ["twofactor_sms", "sms"])
def test_with_dummy_cache_only_the_devices_own_cooldown_holds(
    method: str, client: Client, user: AbstractBaseUser, emulator: Emulator, settings: Any
) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    _pump_setup(method)(client, user, emulator)
    # as documented: the shipped device keeps its own cooldown; two_factor's phone has none
    assert (_sms_count(emulator) == 1) is (method == "twofactor_sms")
