"""Every logger of the library's redacts its records, whatever the project's handlers are.

A filter on a logger sees only the records created on that very logger, so each logger the
library's code uses carries the filter itself. The names are discovered in the source of the
library's packages (every ``library_logger("...")`` call), and no module may take a logger
another way."""

from __future__ import annotations

import ast
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from twofactor_notify.boundary import _LIBRARY_PACKAGES
from twofactor_notify.redaction import forget_secret, library_logger, register_secret

ROOT = Path(__file__).resolve().parents[2]
KEY = "5b1e0c7d-2f9a-4e3b-8d6c-7a0f1e2d3c4b"


def _sources() -> Iterator[Path]:
    for package in sorted(_LIBRARY_PACKAGES):
        for base in (ROOT / package, ROOT / "integrations" / package):
            if base.is_dir():
                yield from sorted(base.rglob("*.py"))


def _calls(name: str) -> Iterator[tuple[Path, ast.Call]]:
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == name
            ):
                yield path, node


def _logger_names() -> list[str]:
    return sorted(
        {
            node.args[0].value
            for _, node in _calls("library_logger")
            if node.args and isinstance(node.args[0], ast.Constant)
        }
    )


def test_the_source_is_found() -> None:
    assert len(list(_sources())) > 50
    assert {"twofactor_notify.client", "twofactor_notify.background", "django_twofactor"} <= set(
        _logger_names()
    )


def test_no_module_takes_a_named_logger_without_the_filter() -> None:
    bypass = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, node in _calls("getLogger")
        if node.args and isinstance(node.args[0], ast.Constant)
    ]
    assert bypass == [], "use twofactor_notify.redaction.library_logger"


@pytest.fixture
def key() -> Iterator[str]:
    register_secret(KEY)
    yield KEY
    forget_secret(KEY)


@pytest.mark.parametrize("name", _logger_names())
def test_each_logger_redacts_what_it_logs(key: str, name: str) -> None:
    logger = library_logger(name)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a project's own handler, no filter of ours
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.DEBUG
    try:
        logger.warning("GET /API/V1/%s/SMS failed", key)
        try:
            raise RuntimeError(f"https://2factor.in/API/V1/{key}/BAL/SMS")
        except RuntimeError:
            logger.exception("and with a traceback")
    finally:
        logger.removeHandler(handler)
        logger.level = level
    shown = stream.getvalue()
    assert "failed" in shown and "traceback" in shown
    assert key not in shown and "<redacted>" in shown
