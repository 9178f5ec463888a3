"""The command line refuses bad values the way every transport does: before any request.

The commands and their arguments are read from the CLI's own parser, so a command or an
option added later that carries a checked field is covered without editing this file. A
refusal by the shared checks is exit code 2 (usage: nothing was sent) with an error line on
stderr, never a traceback, and the emulator sees nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import pytest

from tests.cli.conftest import Run
from twofactor_notify.cli import build_parser
from twofactor_notify.cli.errors import EXIT_USAGE
from twofactor_notify.emulator import Emulator

RunCLI = Callable[..., Run]

#: argument dest -> bad values (strings: all a command line can give)
BAD: dict[str, list[str]] = {
    "phone": ["+1 202 555 0143x", "9876543210 ext. 12", "12345", ""],
    "text": ["", "   ", "x" * 1001, "a\udc80b"],
    "sender": ["TOOLONG1", "TF-CTR", ""],
    "otp": ["12", "1234567", "../x", "12a4"],
    "code": ["12", "../x", "abcd"],
    "template": ["../x", "a/b", "x?y"],
    "session_id": ["../BAL", "a/b"],
    "pe_id": ["12a", "x"],
    "ct_id": ["12a"],
    "campaign_name": ["", "x" * 101],
    "campaign_webhook": ["https://hooks.test/c"],  # without --campaign-name
    "shorten_url_webhook": ["https://hooks.test/s"],  # without --shorten-urls
}
ALIASES = {"phones": "phone", "to": "phone"}
VALID = {"phone": "9876543210", "phones": "9876543210", "text": "hello", "sender": "TFACTR"}
VALID.update(code="1234")


#: commands whose values do not come from their arguments alone, and why
NOT_HERE = {
    "send-bulk": "its values come from a file; a bad one is that row's rejection (test_bulk)",
    "demo": "a guided tour against an emulator of its own",
    "sandbox": "serves an emulator; it sends nothing",
}


def _commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from ((n, p) for n, p in action.choices.items() if n not in NOT_HERE)


def _cases() -> Iterator[tuple[str, list[str]]]:
    for name, parser in _commands():
        actions = [a for a in parser._actions if a.dest != "help"]
        for target in actions:
            field = ALIASES.get(target.dest, target.dest)
            if field not in BAD or (name == "verify" and field == "phone"):
                continue  # (verify --phone is the alternative to --session-id, below)
            for bad in BAD[field]:
                argv = [name]
                for action in actions:
                    value = bad if action is target else VALID.get(action.dest)
                    if action is not target and not action.required:
                        continue
                    if value is None:
                        pytest.fail(f"teach this test a valid {action.dest!r} for {name}")
                    argv += (
                        [value] if not action.option_strings else [action.option_strings[-1], value]
                    )
                if name == "verify" and target.dest != "session_id":
                    argv += ["--phone", VALID["phone"]]
                yield f"{name} {target.dest}={bad[:12]!r}", argv


CASES = list(_cases())


def test_the_commands_that_take_checked_fields_are_found() -> None:
    commands = {label.split()[0] for label, _ in CASES}
    assert {"send-otp", "send-sms", "verify"} <= commands


@pytest.mark.parametrize("argv", [argv for _, argv in CASES], ids=[label for label, _ in CASES])
def test_a_bad_value_is_refused_before_any_request(
    run_cli: RunCLI, cli_env: Emulator, argv: list[str]
) -> None:
    result = run_cli(*argv)
    assert result.code == EXIT_USAGE, result.err
    assert "Traceback" not in result.err
    assert "error:" in result.err.strip().splitlines()[-1]  # one line says what was wrong
    assert cli_env.requests == []
