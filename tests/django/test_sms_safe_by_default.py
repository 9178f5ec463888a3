"""A fresh Django project that never read the testing page cannot send a real SMS from its
tests: Django's own test set-up (``manage.py test``, pytest-django) switches the SMS backend
to locmem, as it does for e-mail. ``LOCMEM_IN_TESTS = False`` opts a suite out. And the
docs' own login test passes however many times it runs (the counters start afresh).

Each case builds a new project with ``django-admin startproject`` in a temporary folder,
whose settings say ``BACKEND = "2factor"`` pointed at the emulator, and runs its tests in a
subprocess; the emulator, over real HTTP, tells whether anything was sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from twofactor_notify.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
PHONE = "9876543210"

SETTINGS_TAIL = """
import os

INSTALLED_APPS += ["django_twofactor", "accounts"]
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django_twofactor.auth.PhoneOTPBackend",
    "django.contrib.auth.backends.ModelBackend",
]
TWOFACTOR_NOTIFY = {
    "BACKEND": "2factor",
    "API_KEY": os.environ["FRESH_API_KEY"],
    "BASE_URL": os.environ["FRESH_BASE_URL"],
    "SENDER_ID": "TFACTR",
    "WEBHOOK_TOKEN": "fresh-project-webhook-token-0123456789",
    "PHONE_FIELD": "phone",
    "LOAD_ENTRYPOINTS": False,
}
if os.environ.get("FRESH_OPT_OUT"):
    TWOFACTOR_NOTIFY["LOCMEM_IN_TESTS"] = False
if os.environ.get("FRESH_BROKEN"):
    import json

    TWOFACTOR_NOTIFY.update(json.loads(os.environ["FRESH_BROKEN"]))
"""

USER_MODEL = """
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    phone = models.CharField(max_length=20, blank=True)
"""

URLS = """
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("twofactor/", include("django_twofactor.urls")),
]
"""

# A test as a newcomer writes it: no TEST_RUNNER, no mixin, no pytest plugin.
UNITTEST_CASE = f"""
from django.test import TestCase

from django_twofactor import send_otp
from django_twofactor.backends import get_backend


class SignupTests(TestCase):
    def test_sends_a_code(self):
        send_otp("{PHONE}")
        print("backend=" + type(get_backend()).__module__)
"""

PYTEST_CASE = f"""
from django_twofactor import send_otp
from django_twofactor.backends import get_backend


def test_sends_a_code(db):
    send_otp("{PHONE}")
    print("backend=" + type(get_backend()).__module__)
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    run = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    return output


@pytest.fixture
def fresh_project(tmp_path: Path, twofactor_emulator: Emulator) -> tuple[Path, dict[str, str]]:
    """A new project (``startproject``) with an ``accounts`` app, sending via ``2factor``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWOFACTOR_", "DJANGO_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        FRESH_API_KEY=twofactor_emulator.api_key,
        FRESH_BASE_URL=twofactor_emulator.url,
        TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    project = tmp_path / "site"
    project.mkdir()
    _run([sys.executable, "-m", "django", "startproject", "fresh", str(project)], tmp_path, env)
    settings = project / "fresh" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS_TAIL)
    (project / "fresh" / "urls.py").write_text(URLS)
    accounts = project / "accounts"
    accounts.mkdir()
    (accounts / "__init__.py").write_text("")
    (accounts / "models.py").write_text(USER_MODEL)
    _run([sys.executable, "manage.py", "makemigrations", "accounts", "-v", "0"], project, env)
    return project, env


def _sent(emulator: Emulator) -> int:
    return len(emulator.messages())


def test_manage_py_test_sends_nothing_by_default(
    fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    project, env = fresh_project
    (project / "accounts" / "tests.py").write_text(UNITTEST_CASE)
    output = _run([sys.executable, "manage.py", "test", "accounts", "-v", "2"], project, env)
    assert "backend=django_twofactor.backends.locmem" in output
    assert _sent(twofactor_emulator) == 0


def test_pytest_django_sends_nothing_by_default(
    fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    project, env = fresh_project
    (project / "test_signup.py").write_text(PYTEST_CASE)
    env = {**env, "DJANGO_SETTINGS_MODULE": "fresh.settings"}
    output = _run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_signup.py"],
        project,
        env,
    )
    assert "backend=django_twofactor.backends.locmem" in output
    assert _sent(twofactor_emulator) == 0


@pytest.mark.parametrize("runner", ["manage.py test", "pytest"])
def test_a_suite_can_opt_out_and_send_for_real(
    runner: str, fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    project, env = fresh_project
    env = {**env, "FRESH_OPT_OUT": "1", "DJANGO_SETTINGS_MODULE": "fresh.settings"}
    if runner == "pytest":
        (project / "test_signup.py").write_text(PYTEST_CASE)
        args = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
        output = _run([*args, "test_signup.py"], project, env)
    else:
        (project / "accounts" / "tests.py").write_text(UNITTEST_CASE)
        output = _run([sys.executable, "manage.py", "test", "accounts"], project, env)
    assert "backend=django_twofactor.backends.twofactor" in output
    assert _sent(twofactor_emulator) == 1


def _docs_login_test() -> str:
    """The login test of docs/django-auth.md's "Testing" section, as written."""
    text = (ROOT / "docs" / "django-auth.md").read_text()
    section = text.split("## Testing", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    return code.group(1)


def test_the_docs_login_test_passes_however_often_it_runs(
    fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    project, env = fresh_project
    example = _docs_login_test()
    assert "def test_login(" in example
    (project / "conftest.py").write_text(
        'pytest_plugins = ["django_twofactor.pytest_plugin"]\n'  # as docs/django.md says
    )
    runs = 8  # SEND_LIMIT is 3: without fresh counters the 4th would get 429
    for number in range(runs):
        (project / f"test_login_{number}.py").write_text(example)
    env = {**env, "DJANGO_SETTINGS_MODULE": "fresh.settings"}
    output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert f"{runs} passed" in output, output
    assert _sent(twofactor_emulator) == 0


SENDS_WITHOUT_FIXTURE = """
import pytest
from django_twofactor import send_sms
from django_twofactor.backends import locmem


@pytest.mark.django_db
def test_a_sends():
    send_sms("+919876543210", "Your order has shipped.")
    assert len(locmem.outbox) == 1


def test_b_sees_an_empty_outbox():
    assert locmem.outbox == []
"""


def test_the_pytest_plugin_empties_the_outbox_before_every_test(
    fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    """Like pytest-django's ``mail.outbox``: no test sees the messages another test sent,
    whether or not it asked for the ``sms_outbox`` fixture."""
    project, env = fresh_project
    (project / "conftest.py").write_text('pytest_plugins = ["django_twofactor.pytest_plugin"]\n')
    (project / "test_outbox.py").write_text(SENDS_WITHOUT_FIXTURE)
    env = {**env, "DJANGO_SETTINGS_MODULE": "fresh.settings"}
    output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert "2 passed" in output, output


def _fails(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    run = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    return output


@pytest.mark.parametrize("runner", ["manage.py test", "pytest"])
def test_a_broken_configuration_fails_the_test_run(
    runner: str, fresh_project: tuple[Path, dict[str, str]], twofactor_emulator: Emulator
) -> None:
    """What ``manage.py check`` refuses, the test run refuses too: the switch to locmem
    comes after the configured setting was checked."""
    from tests.django.test_testing_tools import BROKEN_BACKENDS

    project, env = fresh_project
    (project / "accounts" / "tests.py").write_text(UNITTEST_CASE)
    (project / "test_signup.py").write_text(PYTEST_CASE)
    for broken in BROKEN_BACKENDS:
        case = {
            **env,
            "FRESH_BROKEN": json.dumps(broken),
            "DJANGO_SETTINGS_MODULE": "fresh.settings",
        }
        check = _fails([sys.executable, "manage.py", "check"], project, case)
        keys = set(re.findall(r"TWOFACTOR_NOTIFY\['(\w+)'\]", check))
        assert keys, check
        if runner == "pytest":
            args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            output = _fails([*args, "test_signup.py"], project, case)
        else:
            output = _fails([sys.executable, "manage.py", "test", "accounts"], project, case)
        assert "ConfigurationError" in output, output
        named = set(re.findall(r"TWOFACTOR_NOTIFY\['(\w+)'\]", output))
        assert named and named <= keys, (broken, output)
    assert _sent(twofactor_emulator) == 0
