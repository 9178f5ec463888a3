"""A plugin of the entry-point group that fails never shows a traceback or a key.

A real plugin is installed (a module and its ``.dist-info`` on ``PYTHONPATH``) and every
sending command (the table of ``test_outcome_unknown``, which classifies every command) runs
in a real process with it: failing to import is a configuration error (exit 2, nothing
sent); raising in ``before_send`` is one error line and exit 3 (whether something went is
not the command's to know), and ``send-bulk`` stopped on its second chunk exits 3 too.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_outcome_unknown import SENDING
from twofactor_notify.emulator import Emulator

PLUGIN = """
import os
from pathlib import Path
from twofactor_notify import hookimpl

MODE = os.environ["CRASHPLUG_MODE"]
if MODE == "import":
    raise ImportError("broken plugin " + os.environ.get("TWOFACTOR_API_KEY", ""))
CALLS = 0

@hookimpl
def before_send(message, transport):
    global CALLS
    CALLS += 1
    Path(os.environ["CRASHPLUG_MARK"]).touch()
    if MODE == "crash" or (MODE == "crash2" and CALLS >= 2):
        raise RuntimeError("plugin crashed; key=" + os.environ["TWOFACTOR_API_KEY"])
"""


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    where = tmp_path / "site"
    (where / "crashplug-0.1.dist-info").mkdir(parents=True)
    (where / "crashplug.py").write_text(PLUGIN, encoding="utf-8")
    info = where / "crashplug-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crashplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[twofactor_notify]\ncrashplug = crashplug\n")
    return where


def _run(
    emulator: Emulator, plugin_path: Path, mode: str, argv: list[str], mark: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_path), *sys.path]),
        "TWOFACTOR_API_KEY": emulator.api_key,
        "TWOFACTOR_BASE_URL": emulator.url,
        "CRASHPLUG_MODE": mode,
        "CRASHPLUG_MARK": str(mark),
    }
    env.pop("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "twofactor_notify", *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_clean_line(result: subprocess.CompletedProcess[str], key: str) -> None:
    said = result.stdout + result.stderr
    assert "Traceback" not in said, said
    assert key not in said, said
    assert result.stderr.count("twofactor-notify: error:") <= 1, said


@pytest.mark.parametrize("command", sorted(SENDING))
def test_a_plugin_that_cannot_be_imported_is_a_configuration_error(
    twofactor_emulator: Emulator, plugin_path: Path, tmp_path: Path, command: str
) -> None:
    mark = tmp_path / "called"
    result = _run(
        twofactor_emulator, plugin_path, "import", [command, *SENDING[command](tmp_path)], mark
    )
    _one_clean_line(result, twofactor_emulator.api_key)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("twofactor-notify: error:") == 1
    assert "crashplug" in result.stderr or "entry-point" in result.stderr
    assert twofactor_emulator.messages() == []


@pytest.mark.parametrize("command", sorted(SENDING))
def test_a_plugin_that_raises_in_before_send_is_one_line_and_exit_3(
    twofactor_emulator: Emulator, plugin_path: Path, tmp_path: Path, command: str
) -> None:
    mark = tmp_path / "called"
    result = _run(
        twofactor_emulator, plugin_path, "crash", [command, *SENDING[command](tmp_path)], mark
    )
    _one_clean_line(result, twofactor_emulator.api_key)
    if mark.exists():  # the command sends through the hooks
        assert result.returncode == 3, result.stderr
        assert result.stderr.count("twofactor-notify: error:") == 1
        assert "RuntimeError" in result.stderr and "outcome unknown" in result.stderr
    else:
        assert result.returncode in (0, 1), result.stderr


def test_send_bulk_stopped_by_a_plugin_on_its_second_chunk_exits_3(
    twofactor_emulator: Emulator, plugin_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "m.csv"
    source.write_text("phone,text\n9876543210,one\n9876543211,two\n9876543212,three\n")
    target = tmp_path / "r.csv"
    argv = ["send-bulk", str(source), "--sender", "TFACTR", "--chunk-size", "1"]
    result = _run(
        twofactor_emulator, plugin_path, "crash2", [*argv, "--result", str(target)], tmp_path / "m"
    )
    _one_clean_line(result, twofactor_emulator.api_key)
    assert result.returncode == 3, result.stderr
    with target.open(newline="", encoding="utf-8") as handle:
        statuses = [line["status"] for line in csv.DictReader(handle)]
    assert statuses == ["accepted", "unknown"]
    assert len(twofactor_emulator.messages()) == 1
