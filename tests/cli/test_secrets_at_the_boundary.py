"""No frame of an error a command met holds a key: every command that talks to 2Factor.

The commands are discovered from the parser (every subcommand with ``--base-url``), their
required arguments built from :data:`ARGUMENTS` (keyed by the argument's ``dest``; one the
table does not know fails the test). Each runs in-process through ``main(argv)``, first with
no fault (it must succeed), then under every fault of the core test's matrix. ``main`` logs
the error it reports at DEBUG with its traceback; that error is walked by
:func:`find_secrets`, and the command's output is searched too.
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from twofactor_notify.cli import build_parser, main
from twofactor_notify.emulator import Emulator

from ..core.test_echo_spellings import (
    Answer,
    EchoServer,
    _case,
    _hex,
    _html,
    _percent,
    _same,
    _split,
    serving,
)
from ..core.test_secrets_at_the_boundary import FAULTS, Fault
from ..secret_scan import find_secrets, find_secrets_in_text, summarise

#: A valid value for every required argument, by ``dest`` ("{csv}": a one-row CSV file).
ARGUMENTS = {
    "phone": "9876543210",
    "code": "123456",
    "session_id": "7d3c5f0e-2b1a-4c6d-9e8f-0a1b2c3d4e5f",
    "to": "9876543210",
    "phones": "9876543210",
    "text": "hello",
    "sender": "TFACTR",
    "file": "{csv}",
}
#: Options a command needs to run unattended against the emulator, beyond the required ones.
EXTRA = {"demo": ["--to", "9876543210", "--yes"]}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: command
        for name, command in sub.choices.items()
        if any(a.dest == "base_url" for a in command._actions)
    }


COMMANDS = sorted(_commands())


def _argv(name: str, csv_file: Path) -> list[str]:
    command = _commands()[name]
    argv = [name, *EXTRA.get(name, [])]
    chosen_groups: set[int] = set()
    for action in command._actions:
        group = next(
            (g for g in command._mutually_exclusive_groups if action in g._group_actions), None
        )
        needed = action.required or (group is not None and group.required)
        if not needed or (group is not None and id(group) in chosen_groups):
            continue
        if action.dest not in ARGUMENTS:
            if group is not None:
                continue  # another member of the group may be known
            pytest.fail(f"{name}: no entry for argument {action.dest!r} in ARGUMENTS")
        if group is not None:
            chosen_groups.add(id(group))
        value = ARGUMENTS[action.dest].replace("{csv}", str(csv_file))
        argv += [value] if not action.option_strings else [action.option_strings[-1], value]
    return argv


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


@pytest.fixture
def reported() -> Iterator[_Errors]:
    """The errors main() logged; the root logger is put back as it was (``-v`` sets it)."""
    handler = _Errors()
    log = logging.getLogger("twofactor_notify.cli")
    root = logging.getLogger()
    saved = (log.level, root.level, list(root.handlers))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler
    log.removeHandler(handler)
    log.setLevel(saved[0])
    root.setLevel(saved[1])
    for added in [h for h in root.handlers if h not in saved[2]]:
        root.removeHandler(added)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("phone,text,sender\n9876543210,hello,TFACTR\n", encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, twofactor_emulator: Emulator) -> Emulator:
    monkeypatch.setenv("TWOFACTOR_API_KEY", twofactor_emulator.api_key)
    monkeypatch.setenv("TWOFACTOR_SECRET_KEY", twofactor_emulator.secret_key)
    monkeypatch.setenv("TWOFACTOR_BASE_URL", twofactor_emulator.url)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return twofactor_emulator


def _run(argv: list[str]) -> int:
    return main(argv)


def aimed(fault: Fault, env: Emulator, closed_port: int) -> list[str]:
    """Sets ``fault`` up; the arguments that send to where it is (``--base-url`` of the
    closed port for ``refused``, none for the emulator ``env`` names)."""
    url = fault.aim(env, closed_port)
    return [] if url == env.url else ["--base-url", url]


@pytest.mark.parametrize("name", COMMANDS)
def test_the_arguments_table_makes_valid_commands(
    env: Emulator,
    csv_file: Path,
    reported: _Errors,
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _run(["--timeout", "10", *_argv(name, csv_file)])
    # 0, or 1 for an answer that is not an error ("verify": no such OTP session)
    assert code in (0, 1) and reported.errors == [], (
        f"{name} failed without a fault: {capsys.readouterr().err}"
    )
    assert len(env.requests) >= 1  # it reached the emulator


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("name", COMMANDS)
def test_no_frame_of_a_reported_error_holds_a_key(
    env: Emulator,
    csv_file: Path,
    closed_port: int,
    reported: _Errors,
    capsys: pytest.CaptureFixture[str],
    name: str,
    fault: Fault,
) -> None:
    code = _run([*aimed(fault, env, closed_port), "--timeout", "0.5", "-v", *_argv(name, csv_file)])
    env.clear_faults()
    out = capsys.readouterr()
    secrets = {"API key": env.api_key, "Secret-Key": env.secret_key}
    assert find_secrets_in_text(out.out + out.err, secrets) == []
    # A command that reports failures per row (send-bulk) may log none: its output was searched.
    assert code == 0 or reported.errors or "row" in out.err + out.out, (name, code, out.err)
    for error in reported.errors:
        findings = find_secrets(error, secrets, stop=_run.__code__)
        assert not findings, f"{name} under {fault.name} ({error!r}):\n{summarise(findings)}"


def test_a_failed_command_logs_the_error_it_reports(
    env: Emulator, reported: _Errors, capsys: pytest.CaptureFixture[str]
) -> None:
    """The walk above has something to walk: main() logs the error behind its message."""
    env.inject("status", status=503)
    assert _run(["send-otp", "9876543210"]) == 1
    assert [type(e).__name__ for e in reported.errors] == ["ServerError"]
    assert reported.errors[0].__context__ is None and reported.errors[0].__cause__ is None


#: A few spellings of an echo (see tests/core/test_echo_spellings.py, which draws them all
#: for the library's calls): each command meets each one.
ECHOES = {
    "lower case": Answer(_case("lower")),
    "percent, every byte": Answer(_percent(1.0, False, 0, False)),
    "percent twice, some bytes": Answer(_percent(0.5, True, 1, True)),
    "HTML references, JSON escapes": Answer(_html(0.5, 2), json_escapes=0.3, seed=3),
    "hex": Answer(_hex(True)),
    "split lines": Answer(_split(7, "\n")),
    "UTF-16, plain text": Answer(_same, shape="text", encoding="utf-16"),
}


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EchoServer]:
    with serving() as server:
        yield server


@pytest.mark.parametrize("echo", sorted(ECHOES))
@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_shows_no_spelling_of_an_echoed_key(
    env: Emulator,
    echo_server: EchoServer,
    csv_file: Path,
    reported: _Errors,
    capsys: pytest.CaptureFixture[str],
    name: str,
    echo: str,
) -> None:
    echo_server.answer = ECHOES[echo]
    with echo_server.lock:
        echo_server.sent.clear()
    base = ["--base-url", echo_server.url, "--timeout", "10", "-v"]
    _run([*base, *_argv(name, csv_file)])
    out = capsys.readouterr()
    secrets = {"API key": env.api_key, "Secret-Key": env.secret_key}
    with echo_server.lock:
        sent = b"".join(echo_server.sent).decode("latin-1")
    assert find_secrets_in_text(sent, secrets), "the answers must echo a key: nothing was tested"
    assert find_secrets_in_text(out.out + out.err, secrets) == []
    written = "".join(
        p.read_text("utf-8", "replace") for p in csv_file.parent.iterdir() if p.is_file()
    )
    assert find_secrets_in_text(written, secrets) == []  # a result file, say
    for error in reported.errors:
        findings = find_secrets(error, secrets, stop=_run.__code__)
        assert not findings, f"{name} with {echo} ({error!r}):\n{summarise(findings)}"
