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
