"""Every line the command line writes is redacted, whatever wrote it and at any verbosity.

A real plugin of the entry-point group (a module and its ``.dist-info`` on ``PYTHONPATH``)
quotes the API key and the secret key through every channel a process has: ``print`` to
stdout and to stderr, ``warnings.warn``, a logger of its own at every level logging knows
(with and without a traceback), an ``atexit`` function (the interpreter's exit, after the
command returned), and finally an exception whose message quotes them. Every
sending command (``test_outcome_unknown``'s table, which classifies every command of the
parser) runs in a real process with it, at every verbosity the parser offers. The keys must
appear nowhere in what the process wrote, in any spelling, while the channels did carry the
plugin's text (so the test sees them being exercised).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.cli import build_parser
from twofactor_notify.cli.output import RedactingStream
from twofactor_notify.emulator import Emulator
from twofactor_notify.redaction import forget_secret, register_secret

SECRET_KEY = "sk-Every+Line/Redacted=7"

#: Every level logging knows, by name (NOTSET aside): the plugin logs at each.
LEVELS = sorted(
    (name for name, level in logging.getLevelNamesMapping().items() if level > logging.NOTSET),
    key=logging.getLevelName,
)

PLUGIN = """
import atexit, logging, os, sys, warnings
from pathlib import Path
from twofactor_notify import hookimpl

KEYS = os.environ["TWOFACTOR_API_KEY"] + " " + os.environ["TWOFACTOR_SECRET_KEY"]
LEVELS = os.environ["NOISYPLUG_LEVELS"].split(",")
log = logging.getLogger("noisyplug")

def noise(where):
    print(f"noisyplug {where} stdout " + KEYS)
    print(f"noisyplug {where} stderr " + KEYS, file=sys.stderr)
    warnings.warn(f"noisyplug {where} warning " + KEYS, stacklevel=1)
    for name in LEVELS:
        log.log(logging.getLevelName(name), "noisyplug %s %s %s", where, name, KEYS)
    try:
        raise ValueError("noisyplug inner " + KEYS)
    except ValueError:
        log.exception(f"noisyplug {where} exception " + KEYS)

noise("import")
atexit.register(lambda: print("noisyplug atexit " + KEYS))
Path(os.environ["NOISYPLUG_MARK"] + ".import").touch()

@hookimpl
def before_send(message, transport):
    Path(os.environ["NOISYPLUG_MARK"] + ".send").touch()
    noise("send")
    raise RuntimeError("noisyplug crashed " + KEYS)
"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    where = tmp_path / "site"
    info = where / "noisyplug-0.1.dist-info"
    info.mkdir(parents=True)
    (where / "noisyplug.py").write_text(PLUGIN, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: noisyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[twofactor_notify]\nnoisyplug = noisyplug\n")
    return where


def _verbosities() -> list[list[str]]:
    """No flag, then each verbosity flag of the top-level parser."""
    parser = build_parser()
    flags = [
        action.option_strings[0]
        for action in parser._actions
        if action.dest in {"verbose", "verbosity"} and action.option_strings
    ]
    assert flags, "the parser has no verbosity option"
    return [[], *([flag] for flag in flags)]


def _spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


@pytest.mark.parametrize("verbosity", _verbosities(), ids=lambda v: " ".join(v) or "quiet")
@pytest.mark.parametrize("command", sorted(SENDING))
def test_no_line_of_any_channel_holds_a_key(
    twofactor_emulator: Emulator,
    plugin_path: Path,
    tmp_path: Path,
    command: str,
    verbosity: list[str],
) -> None:
    mark = tmp_path / "called"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_path), *sys.path]),
        "TWOFACTOR_API_KEY": twofactor_emulator.api_key,
        "TWOFACTOR_SECRET_KEY": SECRET_KEY,
        "TWOFACTOR_BASE_URL": twofactor_emulator.url,
        "NOISYPLUG_MARK": str(mark),
        "NOISYPLUG_LEVELS": ",".join(LEVELS),
        "PYTHONWARNINGS": "always",
    }
    env.pop("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twofactor_notify",
            *verbosity,
            command,
            *SENDING[command](tmp_path),
        ],
        stdin=subprocess.DEVNULL,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = result.stdout + result.stderr
    imported, sent = Path(f"{mark}.import").exists(), Path(f"{mark}.send").exists()
    assert imported, said  # every sending command loads the plugins
    for secret in (twofactor_emulator.api_key, SECRET_KEY):
        for spelling in _spellings(secret):
            assert spelling not in said, said
    # the channels carried the plugin's text, redacted
    for where in ["import", "send"] if sent else ["import"]:
        assert f"noisyplug {where} stdout <redacted> <redacted>" in result.stdout, said
        assert f"noisyplug {where} stderr <redacted> <redacted>" in result.stderr, said
        assert f"noisyplug {where} warning <redacted> <redacted>" in result.stderr, said
        shown = [n for n in LEVELS if f"noisyplug {where} {n} <redacted>" in result.stderr]
        if verbosity:
            assert shown == LEVELS, said
            assert f"noisyplug {where} exception <redacted>" in result.stderr, said
            assert "Traceback" in result.stderr, said  # -v shows tracebacks, redacted
        else:
            warning_and_up = [n for n in LEVELS if logging.getLevelName(n) >= logging.WARNING]
            assert shown == warning_and_up, said
    # the interpreter's own exit, after the command returned, writes redacted too
    assert "noisyplug atexit <redacted> <redacted>" in result.stdout, said
    if sent:  # a plugin that raised in before_send: whether something went is not known
        assert result.returncode == 3, said
        assert "noisyplug crashed <redacted> <redacted>" in result.stderr, said


def test_a_key_written_in_pieces_is_still_redacted_and_numbers_are_kept() -> None:
    key = "piece-wise-key-0123456789"
    out = io.StringIO()
    stream = RedactingStream(out)
    register_secret(key)
    try:
        stream.write('{"to": "+919876543210", "key": "')
        stream.write(key[:7])
        stream.write(key[7:])
        stream.write('"}\n')
        stream.write(key[:3])
        stream.write(key[3:])
        stream.flush()
    finally:
        forget_secret(key)
    assert key not in out.getvalue()
    assert out.getvalue() == '{"to": "+919876543210", "key": "<redacted>"}\n<redacted>'
