"""The ``twofactor-notify`` console script's entry point.

The script imports this module, and with it the package, before anything of the command
line runs: both import only a few small standard-library modules, so that a Ctrl-C
during the imports of the command line itself (most of a second: typing, argparse,
requests, cryptography) lands inside :func:`main`, which ends the run with one line and
exit 130 rather than a traceback.
"""

from __future__ import annotations

# The C half of ``signal``, loaded by the interpreter itself at start-up: ``signal`` would
# cost an import of ``enum`` at the very moment a Ctrl-C is most likely to land.
import _signal  # type: ignore[import-not-found]
import os

__all__ = ["main", "on_first_sigint", "sigint_seen"]

_INTERRUPTED_AT_START = (
    "twofactor-notify: error: interrupted before any request was made; nothing was sent"
)


class _FirstSigint:
    seen = False


def on_first_sigint(signum: int, frame: object) -> None:
    """The SIGINT handler of a process that is the command line, from its first instant:
    remembers the signal, ignores further ones (the run is ending: a second Ctrl-C is
    moot) and raises ``KeyboardInterrupt``."""
    _FirstSigint.seen = True
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    raise KeyboardInterrupt


def sigint_seen() -> bool:
    """Whether :func:`on_first_sigint` has run in this process.

    What a Ctrl-C raised may not reach the code that handles it as itself: CPython swallows
    an exception raised where it cannot propagate (a weakref callback, a ``__del__``), and
    replaces it with another error when the handler ran inside some of its own C code (see
    :func:`twofactor_notify.cli.interrupt.interruption`). This record is what is left."""
    return _FirstSigint.seen


def main() -> int:
    """Run :func:`twofactor_notify.cli.main` on the process's command line; returns its
    exit code. A Ctrl-C while it is being imported ends the process with exit 130."""
    try:
        _take_over_sigint()  # inside: its handler may run as soon as it is installed
        from .cli import main as run
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt) and not _FirstSigint.seen:
            raise
        _end_interrupted_at_start()
    return run()


def _take_over_sigint() -> None:
    """Make :func:`on_first_sigint` the SIGINT handler, unless the process was started
    ignoring SIGINT (a background job, ``nohup``): that stays ignored."""
    try:
        if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
            _signal.signal(_signal.SIGINT, on_first_sigint)
    except ValueError:  # not the main thread: Python delivers signals elsewhere
        pass


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
