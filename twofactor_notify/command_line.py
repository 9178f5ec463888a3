"""The ``twofactor-notify`` console script's entry point.

The script imports this module, and with it the package, before anything of the command
line runs: both import only a few small standard-library modules, so that a Ctrl-C
during the imports of the command line itself (most of a second: typing, argparse,
requests, cryptography) lands inside :func:`main`, which ends the run with one line and
exit 130 rather than a traceback.
"""

from __future__ import annotations

import os

__all__ = ["main"]

_INTERRUPTED_AT_START = (
    "twofactor-notify: error: interrupted before any request was made; nothing was sent"
)


def main() -> int:
    """Run :func:`twofactor_notify.cli.main` on the process's command line; returns its
    exit code. A Ctrl-C while it is being imported ends the process with exit 130."""
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        _end_interrupted_at_start()
    return run()


def _end_interrupted_at_start() -> None:
    """One line on stderr and exit 130. It imports nothing and calls only ``os``, so that a
    second Ctrl-C arriving meanwhile (an import could be interrupted again) only restarts
    the attempt: it never escapes as a traceback."""
    line = (_INTERRUPTED_AT_START + "\n").encode()
    written = False
    while True:
        try:
            if not written:
                written = True
                try:  # noqa: SIM105 (contextlib would be an import; this path makes none)
                    os.write(2, line)
                except OSError:  # stderr gone: the status says it
                    pass
            os._exit(130)  # see twofactor_notify.cli._end_interrupted_process
        except KeyboardInterrupt:
            continue
