"""Edges of the command line's redaction: a key across the forced write of a long line, a
run inside another, a long error text, and the exit code of an outcome-unknown refusal."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Iterator

import pytest

from twofactor_notify.cli import output
from twofactor_notify.cli.errors import EXIT_OUTCOME_UNKNOWN, EXIT_USAGE
from twofactor_notify.cli.output import RedactingStream, redacted_output
from twofactor_notify.cli.program import _run
from twofactor_notify.errors import InvalidInputError
from twofactor_notify.redaction import forget_secret, redact, register_secret

KEY = "3f2a9c1e-7b4d-4e8a-9c61-5d2b7e0f1a93"


@pytest.fixture
def key() -> Iterator[str]:
    register_secret(KEY)
    yield KEY
    forget_secret(KEY)


@pytest.mark.parametrize("shift", [-40, -20, -1, 0, 1, 20, 4000, 4100])
def test_a_key_across_the_forced_write_of_a_long_line_is_redacted(key: str, shift: int) -> None:
    target = io.StringIO()
    stream = RedactingStream(target)
    start = output._MAX_PENDING + shift  # where the key begins, around the forced write
    stream.write("x" * start)
    for at in range(0, len(key), 7):  # written in pieces, as print() does
        stream.write(key[at : at + 7])
    stream.write("y" * 70_000)
    stream.write("\n")
    stream.flush()
    assert key not in target.getvalue() and "<redacted>" in target.getvalue()


def test_a_run_inside_another_leaves_the_outer_runs_key_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TFN_OUTER_KEY", KEY)
    monkeypatch.setenv("TFN_INNER_KEY", "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
    with redacted_output(["TFN_OUTER_KEY"]):
        with redacted_output(["TFN_INNER_KEY"]):
            pass
        assert KEY not in redact(f"GET /API/V1/{KEY}/SMS")  # still the outer run's
    assert os.environ["TFN_OUTER_KEY"] in redact(KEY)  # forgotten when the outer run ended


def _args() -> argparse.Namespace:
    return argparse.Namespace(command="sms", json=False)


def test_a_long_unexpected_error_is_redacted_before_it_is_shortened(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for before in (250, 280, 295, 299):

        def command(args: argparse.Namespace, before: int = before) -> int:
            raise RuntimeError("e" * before + f" /API/V1/{KEY}/SMS")

        assert _run(command, _args(), {}) == EXIT_OUTCOME_UNKNOWN
        shown = capsys.readouterr().err
        assert KEY[:8] not in shown, shown[-120:]


def test_a_refusal_whose_outcome_is_unknown_never_exits_with_a_code_to_retry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(args: argparse.Namespace) -> int:
        error = InvalidInputError("the answer named a bad field", field="to")
        error.outcome_unknown = True
        raise error

    assert _run(command, _args(), {}) == EXIT_OUTCOME_UNKNOWN

    def plain(args: argparse.Namespace) -> int:
        raise InvalidInputError("not a number", field="to")

    assert _run(plain, _args(), {}) == EXIT_USAGE
    capsys.readouterr()
