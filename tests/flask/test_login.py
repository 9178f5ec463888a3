"""The phone login helper: request a code, verify it, mark the session; throttling."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request, session

from flask_twofactor.login import (
    PENDING_KEY,
    VERIFIED_KEY,
    LoginThrottledError,
    MemoryAttemptStore,
    PhoneLogin,
    clear_login,
    request_code,
    verified_phone,
    verify_code,
)
from flask_twofactor.testing import last_otp
from twofactor_notify.emulator import Emulator

from .conftest import E164, PHONE, AppFactory


def add_login_routes(app: Flask, login: PhoneLogin) -> None:
    """The routes an app would write around the helper."""

    @app.post("/login/phone")
    def send_code() -> Any:
        try:
            login.request_code(request.form["phone"])
        except LoginThrottledError as exc:
            return jsonify(error="throttled", retry_after=exc.retry_after), 429
        return jsonify(pending=login.pending_phone())

    @app.post("/login/code")
    def check_code() -> Any:
        return jsonify(ok=login.verify_code(request.form["code"]), phone=verified_phone())

    @app.get("/session")
    def show_session() -> Any:
        return jsonify(dict(session))


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def logins() -> list[str]:
    return []


@pytest.fixture
def login(logins: list[str]) -> PhoneLogin:
    return PhoneLogin(on_verified=logins.append, resend_interval=0)


@pytest.fixture
def login_app(app: Flask, login: PhoneLogin) -> Flask:
    add_login_routes(app, login)
    return app


def test_flow_marks_the_session_and_calls_back(login_app: Flask, logins: list[str]):
    client = login_app.test_client()
    assert client.post("/login/phone", data={"phone": PHONE}).get_json() == {"pending": E164}
    stored = client.get("/session").get_json()
    with login_app.app_context():
        code = last_otp(PHONE)
    assert code is not None
    assert stored[PENDING_KEY]["phone"] == E164 and stored[PENDING_KEY]["session_id"]
    assert code not in str(stored)  # the OTP is never in the session

    assert client.post("/login/code", data={"code": wrong(code)}).get_json()["ok"] is False
    answer = client.post("/login/code", data={"code": code}).get_json()
    assert answer == {"ok": True, "phone": E164}
    assert logins == [E164]
    after = client.get("/session").get_json()
    assert PENDING_KEY not in after and after[VERIFIED_KEY] == E164
    # the code cannot be used again: the login in progress is gone
    assert client.post("/login/code", data={"code": code}).get_json()["ok"] is False


def test_too_many_wrong_codes_drop_the_login(login_app: Flask, login: PhoneLogin):
    client = login_app.test_client()
    client.post("/login/phone", data={"phone": PHONE})
    with login_app.app_context():
        code = last_otp(PHONE)
    assert code is not None
    for _ in range(login.max_attempts):
        assert client.post("/login/code", data={"code": wrong(code)}).get_json()["ok"] is False
    # the right code no longer works: a new one is needed
    assert client.post("/login/code", data={"code": code}).get_json()["ok"] is False
    assert PENDING_KEY not in client.get("/session").get_json()


def test_malformed_codes_count_as_attempts(login_app: Flask, login: PhoneLogin):
    client = login_app.test_client()
    client.post("/login/phone", data={"phone": PHONE})
    for _ in range(login.max_attempts):
        assert client.post("/login/code", data={"code": "../x"}).get_json()["ok"] is False
    assert PENDING_KEY not in client.get("/session").get_json()


def test_resend_interval_per_session(app: Flask):
    add_login_routes(app, PhoneLogin(resend_interval=60))
    client = app.test_client()
    assert client.post("/login/phone", data={"phone": PHONE}).status_code == 200
    again = client.post("/login/phone", data={"phone": PHONE})
    assert again.status_code == 429 and 0 < again.get_json()["retry_after"] <= 60
    # another browser is not held back by this session's pause
    assert app.test_client().post("/login/phone", data={"phone": PHONE}).status_code == 200


def test_per_phone_limits_hold_across_sessions(app: Flask):
    login = PhoneLogin(resend_interval=0, max_sends=2, max_failures=3)
    add_login_routes(app, login)
    assert app.test_client().post("/login/phone", data={"phone": PHONE}).status_code == 200
    browser = app.test_client()
    assert browser.post("/login/phone", data={"phone": PHONE}).status_code == 200
    assert app.test_client().post("/login/phone", data={"phone": PHONE}).status_code == 429

    # wrong codes from fresh sessions add up per phone, too
    other = PhoneLogin(resend_interval=0, max_sends=100, max_failures=3)
    for _ in range(3):
        with app.test_request_context():
            other.request_code("9876543212")
            assert not other.verify_code("000001")
    with app.test_request_context():
        with pytest.raises(LoginThrottledError):
            other.request_code("9876543212")


def test_callback_can_refuse(app: Flask):
    login = PhoneLogin(on_verified=lambda phone: False, resend_interval=0)
    with app.test_request_context():
        login.request_code(PHONE)
        code = last_otp(PHONE)
        assert code is not None
        assert login.verify_code(code) is False
        assert verified_phone() is None


def test_module_functions_and_clear(app: Flask):
    seen: list[str] = []
    with app.test_request_context():
        assert verify_code("123456") is False  # nothing requested
        sent = request_code("+91 98765 43210")
        assert sent.to == E164
        code = last_otp(PHONE)
        assert code is not None
        assert verify_code(code, on_verified=seen.append)
        assert verified_phone() == E164 and seen == [E164]
        clear_login()
        assert verified_phone() is None and VERIFIED_KEY not in session


def test_memory_attempt_store_window_and_bound():
    now = [0.0]
    store = MemoryAttemptStore(max_keys=2, clock=lambda: now[0])
    assert store.hit("a", 10) == 1
    now[0] = 5
    assert store.hit("a", 10) == 2
    now[0] = 12
    assert store.count("a", 10) == 1
    store.hit("b", 10)
    store.hit("c", 10)  # pushes out the least recently used key
    assert store.count("a", 10) == 0
    store.reset("c")
    assert store.count("c", 10) == 0


def test_with_flask_login(make_app: AppFactory):
    flask_login = pytest.importorskip("flask_login", reason="flask-login is not installed")

    class User(flask_login.UserMixin):  # type: ignore[misc, name-defined]
        def __init__(self, phone: str) -> None:
            self.id = phone

    app = make_app()
    manager = flask_login.LoginManager(app)
    manager.user_loader(User)
    login = PhoneLogin(on_verified=lambda phone: flask_login.login_user(User(phone)))
    add_login_routes(app, login)

    @app.get("/me")
    @flask_login.login_required
    def me() -> Any:
        return jsonify(id=flask_login.current_user.id)

    client = app.test_client()
    assert client.get("/me").status_code == 401
    client.post("/login/phone", data={"phone": PHONE})
    with app.app_context():
        code = last_otp(PHONE)
    assert code is not None
    assert client.post("/login/code", data={"code": code}).get_json()["ok"] is True
    assert client.get("/me").get_json() == {"id": E164}


def test_login_flow_against_the_emulator(emulator_app: Flask, twofactor_emulator: Emulator):
    login = PhoneLogin()
    add_login_routes(emulator_app, login)
    client = emulator_app.test_client()
    assert client.post("/login/phone", data={"phone": PHONE}).status_code == 200
    code = twofactor_emulator.last_otp(PHONE)
    assert code is not None
    assert client.post("/login/code", data={"code": wrong(code)}).get_json()["ok"] is False
    assert client.post("/login/code", data={"code": code}).get_json() == {"ok": True, "phone": E164}
