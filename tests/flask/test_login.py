"""The phone login helper: request a code, verify it, mark the session; throttling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from flask import Flask, jsonify, request, session

from flask_twofactor import get_state
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
from flask_twofactor.testing import LiveServer, last_otp
from twofactor_notify import hookimpl
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


# --------------------------------------------------------------------------- concurrency

THREADS = 16


class SlowSend:
    """2Factor takes a while to answer a send: time for concurrent requests to pile up."""

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> None:
        time.sleep(0.1)


def _at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> Any:
        barrier.wait(timeout=10)
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_code_requests_cannot_exceed_max_sends(make_app: AppFactory):
    app = make_app(TWOFACTOR_PLUGINS=[SlowSend()])
    add_login_routes(app, PhoneLogin(resend_interval=0, max_sends=3))
    outbox = get_state(app).transport.outbox  # type: ignore[attr-defined]

    with LiveServer(app) as server:
        statuses = _at_once(
            THREADS,
            lambda _: (
                requests.post(
                    f"{server.url}/login/phone", data={"phone": PHONE}, timeout=10
                ).status_code
            ),
        )

    assert sorted(statuses) == [200] * 3 + [429] * (THREADS - 3)
    assert len(outbox) == 3


@pytest.mark.parametrize(
    ("max_attempts", "max_failures", "cap"),
    [(3, 100, 3), (100, 4, 4)],
    ids=["per-code", "per-phone"],
)
def test_concurrent_guesses_with_one_cookie_cannot_exceed_the_limits(
    make_app: AppFactory,
    monkeypatch: pytest.MonkeyPatch,
    max_attempts: int,
    max_failures: int,
    cap: int,
):
    app = make_app()
    login = PhoneLogin(resend_interval=0, max_attempts=max_attempts, max_failures=max_failures)
    add_login_routes(app, login)
    transport = get_state(app).transport
    checked: list[str] = []
    real_verify = transport._verify

    def slow_verify(code: str, *, session_id: str | None, phone: str | None) -> Any:
        checked.append(code)
        time.sleep(0.1)  # 2Factor's VERIFY takes a while
        return real_verify(code, session_id=session_id, phone=phone)

    monkeypatch.setattr(transport, "_verify", slow_verify)

    with LiveServer(app) as server:
        browser = requests.Session()
        assert browser.post(f"{server.url}/login/phone", data={"phone": PHONE}).ok
        cookie = browser.cookies["session"]  # replayed by every guess below
        answers = _at_once(
            THREADS,
            lambda i: requests.post(
                f"{server.url}/login/code",
                data={"code": f"{i:06d}"},
                cookies={"session": cookie},
                timeout=10,
            ).json(),
        )

    assert len(checked) == cap  # guesses that reached 2Factor
    assert all(answer["ok"] is False for answer in answers)


def test_memory_attempt_store_hit_is_atomic():
    store = MemoryAttemptStore()
    counts = _at_once(THREADS, lambda _: store.hit("key", 60))
    assert sorted(counts) == list(range(1, THREADS + 1))


def _sends(app: Flask, send: Callable[[str], Any], phone: str, tries: int) -> int:
    """How many of ``tries`` code requests for ``phone`` went through on ``app``."""
    sent = 0
    for _ in range(tries):
        with app.test_request_context():
            try:
                send(phone)
            except LoginThrottledError:
                continue
            sent += 1
    return sent


def test_default_store_is_per_app(make_app: AppFactory):
    # an app factory (or a test suite) makes new apps with the same import_name
    first, second = make_app(), make_app()
    second.import_name = first.import_name
    assert get_state(first).attempt_store is not get_state(second).attempt_store

    # a PhoneLogin without a store, shared by both apps
    login = PhoneLogin(resend_interval=0, max_sends=2)
    assert _sends(first, login.request_code, PHONE, 3) == 2
    assert _sends(second, login.request_code, PHONE, 3) == 2  # not throttled by `first`

    # the module-level helpers (the default PhoneLogin: max_sends=5) alike
    other = "9876543219"
    assert _sends(first, request_code, other, 6) == 5
    assert _sends(second, request_code, other, 6) == 5


def test_a_number_2factor_sends_no_otp_to_is_refused_before_any_counter(app: Flask):
    from twofactor_notify.errors import InvalidPhoneNumberError

    login = PhoneLogin(resend_interval=0, max_sends=2)
    with app.test_request_context():
        for _ in range(5):  # refused every time, never counted as a request for a code
            with pytest.raises(InvalidPhoneNumberError) as info:
                login.request_code("+12025550143")
            assert info.value.field == "phone"
        assert login.request_code("9876543210").session_id
