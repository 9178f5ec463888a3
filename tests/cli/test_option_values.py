"""Every option value the library has a rule for is checked while the command line is
parsed: exit 2, nothing sent, no file written, the same for every command.

The options are discovered from the parser: each option whose value is a sender, an OTP, a
number, a URL... (by its ``dest``) must carry a checked type, and each checked option of
each command is given a bad value.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.cli import build_parser
from twofactor_notify.cli.options import CHECKED_ATTRIBUTE
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]

#: Option destinations whose values have a rule in twofactor_notify.validation.
CHECKED_DESTS = {
    "sender",
    "template",
    "otp",
    "code",
    "session_id",
    "phone",
    "to",
    "pe_id",
    "ct_id",
    "campaign_name",
    "campaign_webhook",
    "shorten_url_webhook",
    "callback_url",
    "base_url",
    "schedule",
}
#: Bad values for each kind of checked type (by the rule's name).
BAD: dict[str, list[str]] = {
    "sender id": ["T F", "TOOLONG1", ""],
    "template name": ["../x"],
    "OTP": ["12", "12345678", "abcd"],
    "session id": ["../x"],
    "phone number": ["12345", "98765x"],
    "OTP phone number": ["12345", "98765x", "+12025550143"],  # 2Factor: Indian numbers only
    "schedule": ["9999-12-31 23:59+00:00", "2000-01-01 10:00", "soon"],
    "DLT id": ["abc"],
    "campaign name": ["x" * 101],
    "URL": ["notaurl", "http://", "http://127.0.0.1:99999"],
}
# Arguments of a command that sends nothing (a bad value must stop it before it serves).
OTHER: dict[str, list[str]] = {"sandbox": ["--port", "0"]}


def _subparsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _checked_options() -> list[tuple[str, str, str]]:
    found = []
    for command, sub in _subparsers():
        positionals = [a for a in sub._actions if not a.option_strings]
        for action in sub._actions:
            kind = getattr(action.type, CHECKED_ATTRIBUTE, None)
            if kind is None:
                continue
            where = (
                action.option_strings[-1]
                if action.option_strings
                else (f"#{positionals.index(action)}")
            )
            for bad in BAD[kind]:
                found.append((command, where, bad))
    return found


def test_every_option_with_a_rule_is_checked() -> None:
    for command, sub in _subparsers():
        for action in sub._actions:
            if action.dest in CHECKED_DESTS:
                assert getattr(action.type, CHECKED_ATTRIBUTE, None), (command, action.dest)


def _argv(command: str, where: str, bad: str, tmp: Path) -> list[str]:
    base = SENDING[command](tmp) if command in SENDING else list(OTHER[command])
    if where.startswith("#"):
        base[int(where[1:])] = bad
        return [command, *base]
    return [command, *base, f"{where}={bad}"]


@pytest.mark.parametrize(("command", "where", "bad"), _checked_options())
def test_a_bad_value_is_refused_before_anything_happens(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, command: str, where: str, bad: str
) -> None:
    argv = _argv(command, where, bad, tmp_path)
    if command not in SENDING:  # would serve until stopped if the value were taken
        done = subprocess.run(
            [sys.executable, "-m", "twofactor_notify", *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        return
    result_file = tmp_path / "kept.csv"
    result_file.write_text("earlier results\n", encoding="utf-8")
    if command == "send-bulk":
        argv += ["--result", str(result_file)]
    result = run_cli(*argv)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert cli_env.messages() == []
    assert result_file.read_text(encoding="utf-8") == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")) == []


def test_the_table_reaches_every_command_that_takes_such_options() -> None:
    commands = {command for command, _, _ in _checked_options()}
    assert {"send-otp", "verify", "send-sms", "send-bulk", "demo", "sandbox"} <= commands


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--shorten-url-callback", "x"], "--shorten-urls"),
        (["--shorten-url-webhook", "https://example.com/c"], "--shorten-urls"),
        (["--campaign-webhook", "https://example.com/c"], "--campaign-name"),
    ],
)
def test_an_option_that_needs_another_names_it_as_an_option(
    run_cli: RunCLI, cli_env: Emulator, tmp_path: Path, extra: list[str], named: str
) -> None:
    result = run_cli("send-sms", *SENDING["send-sms"](tmp_path), *extra)
    assert result.code == 2, result.err
    assert named in result.err
    assert "shorten_urls" not in result.err and "campaign_name" not in result.err
    assert cli_env.messages() == []
