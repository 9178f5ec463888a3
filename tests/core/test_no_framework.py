"""The core imports no web framework: every module of ``twofactor_notify`` is imported in a
fresh interpreter where Django, Flask and the django-otp stack cannot be imported, and each
must import (or lack only an optional engine of its own, such as Celery).

The modules are found by walking the package, so a module added later is covered. The
``core`` tox env runs this (and the rest of the core's tests) without the frameworks
installed at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

FRAMEWORKS = ("django", "flask", "werkzeug", "django_otp", "two_factor", "flask_login")

_PROBE = """
import importlib, importlib.abc, json, pkgutil, sys

FRAMEWORKS = set(sys.argv[1].split(","))


class Absent(importlib.abc.MetaPathFinder):
    # as if the frameworks were not installed (the core tox env has them absent for real)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FRAMEWORKS:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Absent())
import twofactor_notify

skipped = []
for info in pkgutil.walk_packages(twofactor_notify.__path__, "twofactor_notify."):
    if info.name.endswith(".__main__"):  # runs a program when imported
        continue
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        skipped.append([info.name, exc.name])
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"loaded": loaded, "skipped": skipped}))
"""


def test_no_module_of_the_core_imports_a_web_framework() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(FRAMEWORKS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not set(FRAMEWORKS) & set(report["loaded"])
    # a module that needed a framework fails to import: only an optional engine (an extra
    # of its own) may be missing, never a framework or one of the core's dependencies
    missing = {name.split(".")[0] for _, name in report["skipped"]}
    assert missing <= {"celery", "redis", "kombu"}, report["skipped"]
    assert "twofactor_notify" in report["loaded"]
