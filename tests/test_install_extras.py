"""Every ``pip install "twofactor-notify[...]"`` line of the docs names extras that exist, and
every extra meant for users is named somewhere in the docs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Extras for working on this project, not for its users.
INTERNAL = {"test", "dev"}


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(project["project"]["optional-dependencies"])


def _named_in_docs() -> set[str]:
    named: set[str] = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for group in re.findall(r"twofactor-notify\[([a-z0-9_,\- ]+)\]", text):
            named.update(name.strip() for name in group.split(","))
    return named


def test_docs_name_only_existing_extras() -> None:
    assert _named_in_docs() <= _extras()


def test_every_user_extra_is_named_in_the_docs() -> None:
    assert _extras() - INTERNAL <= _named_in_docs()
