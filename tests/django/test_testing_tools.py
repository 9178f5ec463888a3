"""What keeps a project's test suite from sending real SMS: the runner, the mixin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import SimpleTestCase, override_settings
from django.test import utils as django_test_utils

from django_twofactor import send_otp, verify_otp
from django_twofactor.backends import get_backend, locmem
from django_twofactor.backends.locmem import SMSBackend as LocmemBackend
from django_twofactor.conf import get_settings
from django_twofactor.test import (
    TwoFactorTestMixin,
    TwoFactorTestRunner,
    setup_test_environment,
    teardown_test_environment,
)
from twofactor_notify.errors import ConfigurationError

from .conftest import PHONE, base_settings

REAL = base_settings(BACKEND="2factor", API_KEY="a-real-looking-key-123")


def test_setup_switches_to_locmem_and_teardown_restores() -> None:
    teardown_test_environment()  # undo the session-wide switch of the pytest plugin
    try:
        with override_settings(TWOFACTOR_NOTIFY=REAL):
            assert get_settings().backend == "2factor"
            setup_test_environment()
            assert isinstance(get_backend(), LocmemBackend)
            assert settings.TWOFACTOR_NOTIFY["API_KEY"] == REAL["API_KEY"]
            teardown_test_environment()
            assert get_settings().backend == "2factor"
    finally:
        setup_test_environment()


def test_runner_switches_for_the_run() -> None:
    # pytest-django already ran Django's set-up; step out of it so the runner can run its own
    django_test_utils.teardown_test_environment()
    teardown_test_environment()
    try:
        with override_settings(TWOFACTOR_NOTIFY=REAL):
            runner = TwoFactorTestRunner(verbosity=0)
            runner.setup_test_environment()
            try:
                assert isinstance(get_backend(), LocmemBackend)
            finally:
                runner.teardown_test_environment()
            assert get_settings().backend == "2factor"
    finally:
        django_test_utils.setup_test_environment()
        setup_test_environment()


class MixinTests(TwoFactorTestMixin, SimpleTestCase):
    """A project's TestCase using the mixin."""

    def test_outbox_and_last_otp(self) -> None:
        sent = send_otp(PHONE)
        assert [m.to for m in self.sms_outbox] == [PHONE]
        code = self.last_otp(PHONE)
        assert code and verify_otp(code, session_id=sent.session_id)


@pytest.mark.django_db
def test_mixin_overrides_even_a_real_backend() -> None:
    with override_settings(TWOFACTOR_NOTIFY=REAL):
        result = MixinTests("test_outbox_and_last_otp").run()
    # it passed: the message went to the locmem outbox, not to https://2factor.in
    assert result is not None and result.wasSuccessful(), result.errors + result.failures
    assert [m.to for m in locmem.outbox] == [PHONE]


@pytest.mark.django_db
def test_sms_outbox_fixture(sms_outbox: list[Any], sms_last_otp: Any) -> None:
    sent = send_otp(PHONE)
    assert [m.to for m in sms_outbox] == [PHONE]
    assert verify_otp(sms_last_otp(PHONE), session_id=sent.session_id)


def test_parallel_spawned_workers_use_locmem() -> None:
    """``manage.py test --parallel 2`` with ``spawn``: Django's worker set-up imports the
    settings afresh, so each worker must switch to locmem itself."""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFACTOR_")}
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env.update(PYTHONPATH=path, DJANGO_SETTINGS_MODULE="tests.django.spawn_project.settings")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "test",
            "tests.django.spawn_project",
            "--pattern=worker_*.py",
            "--parallel=2",
            "--noinput",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    workers = re.findall(r"worker pid=(\d+) backend=(\S+)", output)
    assert len(workers) == 2, output
    assert {backend for _, backend in workers} == {"django_twofactor.backends.locmem"}
    assert str(os.getpid()) not in {pid for pid, _ in workers}  # they ran in workers


#: settings whose BACKEND names no backend class, or a built-in backend missing what it needs
BROKEN_BACKENDS: list[dict[str, Any]] = [
    {"BACKEND": "smtp"},
    {"BACKEND": "myproj.nope.Backend"},
    {"BACKEND": "django_twofactor.backends.locmem"},  # a module, not a class
    {"BACKEND": "2factor", "API_KEY": None},
    {"BACKEND": "file", "FILE_PATH": None},
]


def _broken_settings() -> list[dict[str, Any]]:
    """Every malformed setting the start-up tables list, and the broken backends."""
    from django_twofactor.conf import TRANSPORT_KEYS
    from tests.config_cases import bad_cases
    from tests.test_startup_config import DJANGO_BAD

    cases = [{TRANSPORT_KEYS[option]: value} for option, value in bad_cases()]
    cases += [{key: value} for key, values in DJANGO_BAD.items() for value in values]
    return cases + BROKEN_BACKENDS


def _errors() -> list[str]:
    from django.core.checks import Error

    from django_twofactor.checks import check_settings

    return [f"{m.id} {m.msg}" for m in check_settings() if isinstance(m, Error)]


@pytest.mark.parametrize("broken", _broken_settings(), ids=repr)
def test_the_test_set_up_checks_the_configured_settings(broken: dict[str, Any]) -> None:
    """Django's test set-up (which switches to locmem) hides no broken setting: the system
    checks see the configured setting, and the set-up refuses what every send would refuse,
    naming the key, before it switches."""
    from django_twofactor.checks import backend_problem
    from django_twofactor.conf import settings_errors

    config = base_settings(**broken)
    sends_fail = bool(settings_errors(config)) or backend_problem(config["BACKEND"]) is not None
    django_test_utils.teardown_test_environment()  # step out of pytest-django's set-up
    teardown_test_environment()
    try:
        with override_settings(
            TWOFACTOR_NOTIFY=config,
            AUTHENTICATION_BACKENDS=["django_twofactor.auth.PhoneOTPBackend"],
        ):
            configured = _errors()
            assert configured  # production refuses it
            try:
                django_test_utils.setup_test_environment()
                refused = None
            except ConfigurationError as exc:
                refused = exc
            try:
                assert _errors() == configured  # the checks ignore the switch
                if sends_fail:
                    assert refused is not None and refused.key is not None
                    assert refused.key in str(refused)
                    assert any(refused.key in error for error in configured)
                    with pytest.raises(ConfigurationError):
                        get_backend()  # the first send fails as in production
                else:  # a Django-only problem (cache, user model): the checks report it
                    assert refused is None
            finally:
                django_test_utils.teardown_test_environment()
    finally:
        django_test_utils.setup_test_environment()
        setup_test_environment()


@pytest.mark.django_db
def test_last_otp_says_so_when_the_test_sends_through_another_backend(
    sms_last_otp: Any,
) -> None:
    """Both test tools read the locmem backend; under another one they say which, rather
    than failing on a bare assertion."""

    class Case(TwoFactorTestMixin, SimpleTestCase):
        pass

    readers = {"sms_last_otp": sms_last_otp, "TwoFactorTestMixin.last_otp": Case().last_otp}
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="console")):
        for read in readers.values():
            with pytest.raises(RuntimeError, match="ConsoleTransport"):
                read(PHONE)
