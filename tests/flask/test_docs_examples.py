"""docs/flask.md's phone-login views and its testing example, run as written.

The two code blocks are read from the page itself, placed in a fresh project with the little
a reader adds around them (an app, a user model, a home page), and run by pytest in a
subprocess: an edit that breaks the example breaks this test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "flask.md"

AROUND_THE_VIEWS = """
from flask import Flask, flash, redirect, request, url_for
from flask_login import LoginManager, UserMixin

from flask_twofactor import TwoFactor


class User(UserMixin):
    def __init__(self, phone):
        self.id = phone

    @classmethod
    def by_phone(cls, phone):
        return cls(phone)


twofactor = TwoFactor()
app = Flask(__name__)
app.config.update(TESTING=True, SECRET_KEY="docs-example", TWOFACTOR_SENDER_ID="MYBRND")
twofactor.init_app(app)
LoginManager(app).user_loader(User)


@app.get("/")
def home():
    return "home"

"""

CONFTEST = """
import pytest

from views import app as the_app


@pytest.fixture
def app():
    return the_app


@pytest.fixture
def client(app):
    return app.test_client()
"""


def _block(section: str) -> str:
    text = PAGE.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", text, re.S)
    assert found is not None, f"no python block under {section!r}"
    return found.group(1)


def test_the_testing_example_passes_against_the_login_views_as_written(tmp_path: Path) -> None:
    (tmp_path / "views.py").write_text(AROUND_THE_VIEWS + _block("Phone login"))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    example = _block("Testing")
    assert "def test_login(" in example and "def test_wrong_code(" in example
    (tmp_path / "test_example.py").write_text(example)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TWOFACTOR_"))}
    env["TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
