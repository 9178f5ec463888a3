"""Celery's ``autodiscover_tasks()`` imports the ``tasks`` module of every installed app, so
importing ``django_twofactor.tasks`` must never fail, whatever the project runs: a Celery-only
project without Django's task framework, or a Celery queue name that the (default) task
backend does not have. Each case runs in a fresh interpreter, with a real Celery app
discovering the tasks the way its worker does at start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("celery", reason="the Celery adapter's tests need celery")

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCK = {block!r}

    class Absent(importlib.abc.MetaPathFinder):
        # the task framework is not installed (Django 5.2 without the backport)
        def find_spec(self, name, path=None, target=None):
            if BLOCK and (name in ("django_tasks", "django.tasks")
                          or name.startswith(("django_tasks.", "django.tasks."))):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Absent())

    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_twofactor"],
        DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
        TWOFACTOR_NOTIFY={{"BACKEND": "testing", "BACKGROUND": {background!r}}},
    )
    django.setup()

    from celery import Celery

    app = Celery("project", broker="memory://")
    app.autodiscover_tasks(force=True)
    found = sorted(name for name in app.tasks if name.startswith("twofactor_notify."))

    from django_twofactor import tasks
    from twofactor_notify.errors import ConfigurationError

    try:
        tasks.enqueue(None)
        refused = None
    except ConfigurationError as exc:
        refused = str(exc)
    except Exception as exc:  # the backend was reached: the task is usable
        refused = None
    print(json.dumps({{"found": found, "refused": refused, "unavailable": tasks.UNAVAILABLE}}))
    """
)


def discover(*, block: bool, background: dict[str, object]) -> dict[str, object]:
    script = SCRIPT.format(block=block, background=background)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


CELERY = {"ENGINE": "celery", "QUEUE": "sms", "LEDGER": "memory"}


@pytest.mark.parametrize("block", [False, True], ids=["framework-installed", "framework-absent"])
def test_a_celery_project_discovers_its_tasks(block: bool) -> None:
    # a Celery queue name ("sms") the default task backend lacks, with or without the framework
    result = discover(block=block, background=CELERY)
    assert result["found"] == ["twofactor_notify.republish", "twofactor_notify.send_envelope"]


def test_without_the_framework_the_django_tasks_engine_says_what_to_install() -> None:
    result = discover(block=True, background={"ENGINE": "django-tasks", "LEDGER": "database"})
    assert result["refused"] is not None
    assert "django-tasks backport" in str(result["refused"])


def test_a_queue_the_task_backend_lacks_is_named_when_enqueueing() -> None:
    background = {"ENGINE": "django-tasks", "QUEUE": "sms", "LEDGER": "database"}
    result = discover(block=False, background=background)
    assert result["refused"] is not None
    assert "QUEUE" in str(result["refused"]) and "TASKS" in str(result["refused"])
