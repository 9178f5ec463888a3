"""django-otp's own LoginView and OTPAdminSite with the device, and the device admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator

from .conftest import NUMBER, PASSWORD, fresh, wrong_code

pytestmark = pytest.mark.django_db

LOGIN = "/otp/login/"


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_login_view_flow(
    emulator: Emulator, device: TwoFactorSMSDevice, client: Client, settings: Any, mode: str
) -> None:
    settings.OTP_TWOFACTOR_MODE = mode
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0
    credentials = {"username": "alice", "password": PASSWORD, "next": "/otp/whoami/"}

    page = client.post(LOGIN, credentials).content.decode()
    assert "Please enter your OTP token." in page
    assert device.persistent_id in page  # the device can be picked now

    with_device = {**credentials, "otp_device": device.persistent_id}
    page = client.post(LOGIN, {**with_device, "otp_challenge": "1"}).content.decode()
    assert "OTP Challenge: sent by SMS to +91******3210" in page
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    page = client.post(LOGIN, {**with_device, "otp_token": wrong_code(otp)}).content.decode()
    assert "Invalid token." in page
    assert fresh(device).throttling_failure_count == 1

    response = client.post(LOGIN, {**with_device, "otp_token": otp})
    assert response.status_code == 302 and response["Location"] == "/otp/whoami/"
    assert "verified=True" in client.get("/otp/whoami/").content.decode()


def test_login_view_reports_lock_out(
    emulator: Emulator, device: TwoFactorSMSDevice, client: Client
) -> None:
    device.generate_challenge()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    form = {
        "username": "alice",
        "password": PASSWORD,
        "otp_device": device.persistent_id,
        "otp_token": wrong_code(otp),
    }
    client.post(LOGIN, form)
    page = client.post(LOGIN, {**form, "otp_token": otp}).content.decode()
    assert "Verification temporarily disabled because of 1 failed attempt" in page
    assert "verified=True" not in client.get("/otp/whoami/").content.decode()


@pytest.fixture
def admin_user(db: None) -> AbstractBaseUser:
    return get_user_model().objects.create_superuser(  # type: ignore[attr-defined,no-any-return]
        "root", "root@example.com", PASSWORD
    )


def test_otp_admin_site_login(
    emulator: Emulator, admin_user: AbstractBaseUser, client: Client
) -> None:
    device = TwoFactorSMSDevice.objects.create(user=admin_user, name="root phone", number=NUMBER)
    assert 'name="otp_token"' in client.get("/otpadmin/login/").content.decode()
    form = {
        "username": "root",
        "password": PASSWORD,
        "otp_device": device.persistent_id,
        "next": "/otpadmin/",
    }
    page = client.post("/otpadmin/login/", {**form, "otp_challenge": "1"}).content.decode()
    assert "sent by SMS to +91******3210" in page
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    response = client.post("/otpadmin/login/", {**form, "otp_token": otp})
    assert response.status_code == 302
    listing = client.get("/otpadmin/otp_twofactor/twofactorsmsdevice/")
    assert listing.status_code == 200
    assert "+91******3210" in listing.content.decode()


@pytest.fixture
def admin_client_(admin_user: AbstractBaseUser, client: Client) -> Client:
    client.force_login(admin_user)
    return client


ADMIN = "/admin/otp_twofactor/twofactorsmsdevice/"


def test_admin_pages_load_and_hide_secrets(
    emulator: Emulator, admin_client_: Client, device: TwoFactorSMSDevice
) -> None:
    device.generate_challenge()
    stored = fresh(device)
    assert stored.token is not None

    listing = admin_client_.get(ADMIN).content.decode()
    assert "+91******3210" in listing and NUMBER not in listing
    assert "3210" in admin_client_.get(ADMIN, {"q": "3210"}).content.decode()
    assert "alice" in admin_client_.get(ADMIN, {"q": "alice"}).content.decode()
    assert admin_client_.get(f"{ADMIN}add/").status_code == 200
    change = admin_client_.get(f"{ADMIN}{device.pk}/change/")
    assert change.status_code == 200
    assert stored.token not in change.content.decode()


def test_admin_add_normalises_and_validates_the_number(
    admin_client_: Client, user: AbstractBaseUser
) -> None:
    form = {"user": user.pk, "name": "work", "confirmed": "on", "number": "98765 43210"}
    assert admin_client_.post(f"{ADMIN}add/", form).status_code == 302
    assert TwoFactorSMSDevice.objects.get().number == NUMBER

    for bad in ("12345", "not a number", "+91 12345"):
        page = admin_client_.post(f"{ADMIN}add/", {**form, "number": bad}).content.decode()
        assert page.count("Enter a valid phone number") == 1, bad  # shown once, not twice
    assert TwoFactorSMSDevice.objects.count() == 1


def test_admin_actions(
    emulator: Emulator, admin_client_: Client, device: TwoFactorSMSDevice
) -> None:
    TwoFactorSMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=3)
    picked = {"_selected_action": [device.pk], "index": 0}

    page = admin_client_.post(
        ADMIN, {**picked, "action": "send_test_challenge"}, follow=True
    ).content.decode()
    assert "sent by SMS to +91******3210" in page
    assert len(emulator.messages(NUMBER)) == 1
    page = admin_client_.post(
        ADMIN, {**picked, "action": "send_test_challenge"}, follow=True
    ).content.decode()
    assert "cooldown" in page  # the action respects the cooldown
    assert len(emulator.messages(NUMBER)) == 1

    admin_client_.post(ADMIN, {**picked, "action": "reset_throttling"}, follow=True)
    assert fresh(device).throttling_failure_count == 0


def test_admin_action_reports_delivery_failure(
    emulator: Emulator, admin_client_: Client, device: TwoFactorSMSDevice
) -> None:
    emulator.inject("status", status=503, match="/SMS/", times=1)
    page = admin_client_.post(
        ADMIN,
        {"_selected_action": [device.pk], "index": 0, "action": "send_test_challenge"},
        follow=True,
    ).content.decode()
    assert "the SMS could not be sent" in page


@pytest.fixture
def view_only_client(db: None, client: Client) -> Client:
    """A staff user who may only *view* devices."""
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user(  # type: ignore[attr-defined]
        "viewer", "viewer@example.com", PASSWORD, is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_twofactorsmsdevice"))
    client.force_login(viewer)
    return client


def test_admin_actions_need_the_change_permission(
    settings: Any, view_only_client: Client, device: TwoFactorSMSDevice
) -> None:
    from otp_twofactor.conf import no_delivery_transport

    settings.OTP_TWOFACTOR_NO_DELIVERY = True
    TwoFactorSMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=30)

    listing = view_only_client.get(ADMIN)
    assert listing.status_code == 200
    assert "+91******3210" in listing.content.decode()  # the viewer can see the list...
    form = listing.context["action_form"]  # None when no action is left
    offered = [choice for choice, _ in form.fields["action"].choices] if form else []
    assert "send_test_challenge" not in offered  # ...but is not offered the actions
    assert "reset_throttling" not in offered
    assert "send_test_challenge" not in listing.content.decode()

    picked = {"_selected_action": [device.pk], "index": 0}
    for action in ("send_test_challenge", "reset_throttling"):
        view_only_client.post(ADMIN, {**picked, "action": action}, follow=True)

    assert fresh(device).throttling_failure_count == 30  # lock-out kept
    assert no_delivery_transport().outbox == []  # no SMS sent
    assert fresh(device).last_generated_timestamp is None
