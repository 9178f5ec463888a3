"""Phone + OTP login: the authentication backend and the two views."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.test import Client, RequestFactory

from django_twofactor import send_otp
from django_twofactor.auth import LOGIN_SESSION_KEY, PhoneOTPBackend
from django_twofactor.backends import locmem
from django_twofactor.throttle import failure_count, is_locked_out
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import RequestRejectedError

from .conftest import OTHER_PHONE, PHONE, base_settings

pytestmark = pytest.mark.django_db

BACKENDS = ["django_twofactor.auth.PhoneOTPBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN = "/twofactor/login/"
VERIFY = "/twofactor/login/code/"


@pytest.fixture(autouse=True)
def _auth_settings(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.TWOFACTOR_NOTIFY = base_settings(LOGIN_MAX_ATTEMPTS=3)


@pytest.fixture
def user() -> User:
    return User.objects.create_user(username=PHONE)


def last_code(phone: str = PHONE) -> str:
    from django_twofactor import get_transport

    transport = get_transport()
    assert isinstance(transport, locmem.LocmemTransport)
    code = transport.last_otp(phone)
    assert code is not None
    return code


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_success_by_phone_any_typed_form(user: User) -> None:
    send_otp(PHONE)
    assert authenticate(None, phone="098765 43210", token=last_code()) == user


def test_wrong_code_returns_none_counts_and_token_is_cleansed(user: User) -> None:
    seen: list[dict[str, Any]] = []

    def failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
        seen.append(credentials)

    send_otp(PHONE)
    code = last_code()
    user_login_failed.connect(failed)
    try:
        assert authenticate(None, phone=PHONE, token=wrong(code)) is None
        assert authenticate(None, phone=PHONE, token="12") is None  # malformed: no exception
    finally:
        user_login_failed.disconnect(failed)
    assert failure_count(PHONE) == 2
    assert seen and all(c["token"] == "********************" for c in seen)
    assert authenticate(None, phone=PHONE, token=code) == user
    assert failure_count(PHONE) == 0  # cleared by the success


def test_lockout_after_max_attempts_even_with_the_right_code(user: User) -> None:
    send_otp(PHONE)
    code = last_code()
    for _ in range(3):
        assert authenticate(None, phone=PHONE, token=wrong(code)) is None
    assert is_locked_out(PHONE)
    assert authenticate(None, phone=PHONE, token=code) is None
    assert not is_locked_out(OTHER_PHONE)


def test_unknown_number_gets_none_and_no_user_is_created() -> None:
    send_otp(PHONE)
    assert authenticate(None, phone=PHONE, token=last_code()) is None
    assert not User.objects.exists()


def test_inactive_user_is_refused(user: User) -> None:
    user.is_active = False
    user.save()
    send_otp(PHONE)
    assert authenticate(None, phone=PHONE, token=last_code()) is None


def test_create_users_setting_creates_a_passwordless_user(settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(CREATE_USERS=True)
    send_otp(PHONE)
    created = authenticate(None, phone=PHONE, token=last_code())
    assert isinstance(created, User)
    assert created.username == PHONE and not created.has_usable_password()


def test_other_credentials_and_invalid_numbers_are_ignored(user: User) -> None:
    backend = PhoneOTPBackend()
    assert backend.authenticate(None, username="x", password="y") is None
    assert backend.authenticate(None, phone="not a phone", token="123456") is None
    assert backend.get_user(user.pk) == user
    assert backend.get_user(99999) is None


def test_session_id_from_the_session_is_used(user: User) -> None:
    sent = send_otp(PHONE)
    request = RequestFactory().post("/")
    request.session = {LOGIN_SESSION_KEY: {"phone": PHONE, "session_id": sent.session_id}}  # type: ignore[assignment]
    send_otp(PHONE)  # a newer code: only the session's (older) one is checked
    newer = last_code()
    assert authenticate(request, phone=PHONE, token=newer) is None


def test_login_views_with_locmem(client: Client, user: User) -> None:
    page = client.get(LOGIN)
    assert page.status_code == 200 and b'name="phone"' in page.content
    answer = client.post(LOGIN, {"phone": "9876543210", "next": "/admin/"})
    assert answer.status_code == 302 and answer["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    page = client.get(answer["Location"])
    assert b"+91******3210" in page.content
    typed = wrong(last_code())
    bad = client.post(VERIFY, {"token": typed, "next": "/admin/"})
    assert bad.status_code == 200 and b"not valid" in bad.content
    assert typed.encode() not in bad.content  # the page never carries a code back
    good = client.post(VERIFY, {"token": last_code(), "next": "/admin/"})
    assert good.status_code == 302 and good["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_unsafe_next_is_ignored(client: Client, user: User) -> None:
    client.post(LOGIN, {"phone": PHONE})
    good = client.post(VERIFY, {"token": last_code(), "next": "https://evil.example/"})
    assert good["Location"] == "/"


def test_request_code_does_not_reveal_accounts(client: Client, user: User) -> None:
    known = client.post(LOGIN, {"phone": PHONE})
    unknown = client.post(LOGIN, {"phone": OTHER_PHONE})
    assert (known.status_code, unknown.status_code) == (302, 302)
    assert known["Location"] == unknown["Location"]
    page = client.get(VERIFY)
    assert b"If +91******5678 has an account" in page.content
    assert [m.to for m in locmem.outbox] == [PHONE]  # only the account got an SMS


def test_request_code_is_rate_limited_per_number(client: Client, settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(SEND_LIMIT=2)
    User.objects.create_user(username=PHONE)
    codes = [client.post(LOGIN, {"phone": PHONE}).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    assert len(locmem.outbox) == 2
    assert client.post(LOGIN, {"phone": OTHER_PHONE}).status_code == 302  # per number
    # unknown numbers are limited the same way, so the limit tells nothing either
    assert [client.post(LOGIN, {"phone": OTHER_PHONE}).status_code for _ in range(2)] == [
        302,
        429,
    ]


def test_invalid_phone_and_missing_login(client: Client) -> None:
    page = client.post(LOGIN, {"phone": "12"})
    assert page.status_code == 200 and b"valid phone number" in page.content
    assert client.get(VERIFY)["Location"] == LOGIN


def test_lockout_message_in_view(client: Client, user: User) -> None:
    client.post(LOGIN, {"phone": PHONE})
    code = last_code()
    for _ in range(3):
        client.post(VERIFY, {"token": wrong(code)})
    page = client.post(VERIFY, {"token": code})
    assert b"Too many wrong codes" in page.content
    assert "_auth_user_id" not in client.session


def test_login_end_to_end_through_the_emulator(
    client: Client, user: User, settings: Any, on_emulator: Emulator
) -> None:
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    assert client.post(LOGIN, {"phone": PHONE}).status_code == 302
    code = on_emulator.last_otp(PHONE)
    assert code is not None
    (record,) = on_emulator.messages(PHONE)
    assert record.kind == "otp" and record.template == "OTPTest"
    assert client.post(VERIFY, {"token": wrong(code)}).status_code == 200
    answer = client.post(VERIFY, {"token": code})
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert LOGIN_SESSION_KEY not in client.session


def test_verify_by_phone_through_the_emulator(user: User, on_emulator: Emulator) -> None:
    send_otp(PHONE)
    code = on_emulator.last_otp(PHONE)
    assert code is not None
    assert authenticate(None, phone=PHONE, token=wrong(code)) is None
    assert authenticate(None, phone=PHONE, token=code) == user


def test_outage_returns_none_without_counting(user: User, on_emulator: Emulator) -> None:
    send_otp(PHONE)
    on_emulator.inject("status", status=503, times=5)
    assert authenticate(None, phone=PHONE, token="123456") is None
    assert failure_count(PHONE) == 0
    on_emulator.clear_faults()
    code = on_emulator.last_otp(PHONE)
    assert code is not None
    assert authenticate(None, phone=PHONE, token=code) == user


class FailingSendTransport(locmem.LocmemTransport):
    """Locmem, but 2Factor refuses every send (out of balance, DND, an outage...)."""

    def _deliver(self, message: Any) -> Any:
        raise RequestRejectedError("refused by 2Factor")


class FailingSendBackend(locmem.SMSBackend):
    """The locmem backend on :class:`FailingSendTransport`."""

    def build_transport(self, **options: Any) -> FailingSendTransport:
        return FailingSendTransport(**options)


def test_a_failed_send_does_not_reveal_that_the_number_has_an_account(
    settings: Any, user: User
) -> None:
    settings.TWOFACTOR_NOTIFY = base_settings(BACKEND=f"{__name__}.FailingSendBackend")
    answers = {}
    for phone in (PHONE, OTHER_PHONE):  # an account, and no account
        client = Client()
        answer = client.post(LOGIN, {"phone": phone})
        page = client.get(VERIFY)
        answers[phone] = (answer.status_code, answer.get("Location"), page.status_code)
        assert client.session[LOGIN_SESSION_KEY]["phone"] == phone
    assert answers[PHONE] == answers[OTHER_PHONE] == (302, VERIFY, 200)


def test_a_code_is_never_converted_an_int_or_padded_code_fails(user: User, settings: Any) -> None:
    from tests.otp.test_odd_tokens import ODD

    settings.TWOFACTOR_NOTIFY = base_settings(LOGIN_MAX_ATTEMPTS=len(ODD) + 1)
    send_otp(PHONE)
    code = last_code()
    for odd in ODD:
        token = odd % code if isinstance(odd, str) and "%s" in odd else odd
        if isinstance(odd, int):
            token = int(code)  # the digits of the code, as a number
        if token is None:
            continue  # credentials meant for another backend
        assert authenticate(None, phone=PHONE, token=token) is None, repr(odd)
    assert authenticate(None, phone=PHONE, token=code) == user


def _first_use_cases() -> list[tuple[str, Any]]:
    """The string values of CACHE_ALIAS and PHONE_FIELD the start-up tables refuse: the
    system checks (E012, E007) say so, and the first login names the key."""
    from tests.test_startup_config import DJANGO_BAD

    return [
        (key, value)
        for key in ("CACHE_ALIAS", "PHONE_FIELD")
        for value in DJANGO_BAD[key]
        if isinstance(value, str) and value
    ]


@pytest.mark.parametrize(("key", "value"), _first_use_cases())
def test_the_login_views_name_a_broken_key_on_first_use(
    client: Client, user: User, settings: Any, key: str, value: str
) -> None:
    from twofactor_notify.errors import ConfigurationError

    settings.TWOFACTOR_NOTIFY = base_settings(LOGIN_MAX_ATTEMPTS=3, **{key: value})
    with pytest.raises(ConfigurationError) as info:
        client.post(LOGIN, {"phone": PHONE})
        client.post(VERIFY, {"token": last_code()})
    assert info.value.key == f"TWOFACTOR_NOTIFY['{key}']"
    assert info.value.key in str(info.value)
