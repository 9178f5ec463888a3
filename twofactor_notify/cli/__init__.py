"""The ``twofactor-notify`` command line (also ``python -m twofactor_notify``).

Commands: ``demo``, ``sandbox``, ``send-otp``, ``verify``, ``send-sms``, ``send-bulk``; see
``docs/cli.md``. Each lives in its own module and registers its parser in
:mod:`twofactor_notify.cli.program`.

This module imports next to nothing, so that :func:`main` runs within milliseconds of the
interpreter's start: it takes over Ctrl-C first, then imports the program (requests,
cryptography and every command: most of a second). A Ctrl-C at any moment of a run, its
imports included, ends it with one line on stderr and exit 130, never a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import EXIT_INTERRUPTED
from .interrupt import (
    ignore_swallowed_interrupts,
    interruption,
    on_first_sigint,
    raise_if_interrupted,
    sigint_seen,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["PROG", "build_parser", "main"]

#: The command's name, as its error lines start.
PROG = "twofactor-notify"

_NOTHING_SENT = "interrupted before any request was made; nothing was sent"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    from .program import build_parser as build

    return build()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 usage, 3
    outcome unknown, 130/143 interrupted).

    Without ``argv`` it is the process's own command line: from its first instant, the
    first SIGINT raises ``KeyboardInterrupt`` and makes further ones ignored until the
    process has exited, so that a second Ctrl-C cannot turn the documented exit status
    into a death by signal or a traceback. Once the command has its result, SIGINT is
    ignored: the exit status is the command's. An interrupted run ends the process
    itself (see :func:`_end_interrupted_process`).
    """
    own_process = False
    try:  # from the first line: the handler may run as soon as it is installed
        own_process = argv is None and threading.current_thread() is threading.main_thread()
        # A SIGINT the process was started ignoring (a background job, nohup) stays
        # ignored; the console script's entry point took SIGINT over already.
        handler = signal.getsignal(signal.SIGINT) if own_process else None
        if handler is signal.default_int_handler:
            signal.signal(signal.SIGINT, on_first_sigint)
        if handler in (signal.default_int_handler, on_first_sigint) or sigint_seen():
            ignore_swallowed_interrupts()
        from .program import run

        raise_if_interrupted()  # one Python swallowed while importing
        code = run(argv)
        if own_process:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except BaseException as exc:
        if interruption(exc) is None:
            raise
        # Outside the command's own handling: while the program was imported, before the
        # command started, or after it ended (an error CPython made of the interruption
        # while importing, too: see interruption()). A request may have gone only if a
        # client was made (the module that makes them is not even imported before).
        connection = sys.modules.get(f"{__name__}.connection")
        made = connection is not None and connection.client_made()
        if made:
            from .program import INTERRUPTED_HINT

            message = f"interrupted ({INTERRUPTED_HINT})"
        else:
            message = _NOTHING_SENT
        with contextlib.suppress(OSError, ValueError):  # stderr gone: the status says it
            print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        code = EXIT_INTERRUPTED
    if own_process and code >= EXIT_INTERRUPTED:
        _end_interrupted_process(code)
    return code


def _end_interrupted_process(code: int) -> None:
    """Exit with ``code`` now, after the ``atexit`` functions and with the output flushed,
    but without the interpreter's finalization: CPython was seen to end a process whose
    ``KeyboardInterrupt`` (raised during an import) had been handled by re-raising SIGINT
    on itself at the very end (``SIG_DFL``, then ``kill(getpid(), SIGINT)``), so that the
    status was a death by signal instead of ``code``."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
