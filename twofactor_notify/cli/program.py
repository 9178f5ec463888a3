"""The command line's program: its parser, its commands and how a run ends.

:func:`twofactor_notify.cli.main` imports this module (which imports every command, and with
them requests and cryptography) only once it has taken over Ctrl-C. Expected failures print
one line on stderr and exit non-zero (2: usage or configuration, nothing sent; 1: the API,
the network, a failed verification, rejected rows; 3: the outcome is unknown, so running the
command again could send twice).
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from twofactor_notify.redaction import library_logger

from .. import __version__
from ..boundary import at_boundary
from ..errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    TwoFactorError,
)
from ..redaction import RedactingFilter, redact
from . import PROG, bulk, demo, otp, sandbox, sms
from .connection import (
    API_KEY_ENV,
    SECRET_KEY_ENV,
    add_connection_options,
    client_made,
    forget_client,
    hide_keys,
)
from .errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OUTCOME_UNKNOWN,
    EXIT_USAGE,
    CommandError,
)
from .interrupt import interruption
from .output import redacted_output

__all__ = ["INTERRUPTED_HINT", "OUTCOME_UNKNOWN_HINT", "build_parser", "run"]

logger = library_logger("twofactor_notify.cli")

_HINTS: tuple[tuple[type[TwoFactorError], str], ...] = (
    (AuthenticationError, f"check {API_KEY_ENV}"),
    (APIConnectionError, "check the network, or --base-url"),
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser: argparse.ArgumentParser = _Parser(
        prog=PROG,
        description="Send OTPs and SMS through 2Factor.in, or try everything on a local "
        "emulator: start with 'twofactor-notify demo'.",
        epilog=f"Keys are read from {API_KEY_ENV} and TWOFACTOR_SECRET_KEY (or a hidden "
        "prompt), never from arguments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log requests to stderr (keys redacted)"
    )
    add_connection_options(parser, suppress=False)
    parser.set_defaults(json=False)

    connection = argparse.ArgumentParser(add_help=False)
    add_connection_options(connection, suppress=True)
    with_json = argparse.ArgumentParser(add_help=False, parents=[connection])
    with_json.add_argument("--json", action="store_true", help="print the result as JSON")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo.register(commands, connection)
    sandbox.register(commands, connection)
    otp.register(commands, with_json)
    sms.register(commands, with_json)
    bulk.register(commands, with_json)
    for command in commands.choices.values():
        # the library's errors name its parameters (shorten_urls); a command's line names
        # the options the user typed (--shorten-urls): see _in_option_terms
        command.set_defaults(
            option_names={
                a.dest: a.option_strings[-1] for a in command._actions if a.option_strings
            }
        )
    return parser


def _in_option_terms(text: str, args: argparse.Namespace) -> str:
    """``text`` with the library's parameter names (``shorten_urls=True``, ``campaign_name``)
    replaced by the command's options (``--shorten-urls``, ``--campaign-name``)."""
    names: dict[str, str] = getattr(args, "option_names", {})
    for dest, option in sorted(names.items(), key=lambda item: -len(item[0])):
        if "_" in dest:
            text = re.sub(rf"\b{re.escape(dest)}(?:=True)?\b", option, text)
    return text


def _configure_logging(verbose: bool) -> None:
    if not verbose:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())  # handler-level: covers every logger's records
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def _log_failure(command: str) -> None:
    """Log the error being handled, with its traceback, at DEBUG (``-v`` shows it, keys
    redacted; an error reporter hooked to logging records it)."""
    logger.debug("%s failed", command, exc_info=True)


def _fail(message: str) -> None:
    # redact(): a key or a number of the request, wherever the text came from (a plugin's)
    print(f"{PROG}: error: {hide_keys(redact(message))}", file=sys.stderr, flush=True)


#: Added to the error line of a call that may have taken effect (exit 3): running the
#: command again could send the message twice.
OUTCOME_UNKNOWN_HINT = (
    "outcome unknown: it may have taken effect; check delivery reports or the recipient "
    "before running the command again"
)

#: Added to the line of an interrupted command.
INTERRUPTED_HINT = (
    "a request already on its way may have taken effect; check delivery reports or the "
    "recipient before running the command again"
)


def _describe(exc: TwoFactorError) -> str:
    text = str(exc)  # our errors' text is secret-free by construction
    if exc.outcome_unknown:
        return f"{text} ({OUTCOME_UNKNOWN_HINT})"
    for cls, hint in _HINTS:
        if isinstance(exc, cls):
            return f"{text} ({hint})"
    return text


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 failure, 2 usage, 3
    outcome unknown, 130/143 interrupted). :func:`twofactor_notify.cli.main` calls it.

    Without ``argv`` it is the process's own command line: once interrupted, further
    SIGINT/SIGTERM are ignored until the process has exited, so that a second Ctrl-C cannot
    turn the documented exit status into a death by signal.
    """
    # In a process of its own, the streams stay redacted until the interpreter has exited.
    with redacted_output((API_KEY_ENV, SECRET_KEY_ENV), restore=argv is not None):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    forget_client()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_USAGE)
    _configure_logging(args.verbose)
    # The command's boundary: a library error leaves detached, an exception out of the wire
    # stack becomes a TwoFactorError (see twofactor_notify.boundary).
    command = at_boundary(args.handler, f"{PROG} {args.command}")
    ignored: dict[int, Any] = {}
    try:
        return _run(command, args, ignored)
    finally:
        if argv is not None:  # called in-process (tests, a script): put the handlers back
            for signum, handler in ignored.items():
                signal.signal(signum, handler)


def _ignore_further_signals(ignored: dict[int, Any]) -> None:
    """Ignore SIGINT and SIGTERM from now on (the command is reporting an interruption);
    the handlers replaced are kept in ``ignored``."""
    if ignored or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        ignored[signum] = signal.signal(signum, signal.SIG_IGN)


def _run(
    command: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    ignored: dict[int, Any],
) -> int:
    try:
        try:
            return int(command(args))
        except CommandError:
            raise  # the command's own words, an interruption's included
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) or interruption(exc) is None:
                raise
            raise KeyboardInterrupt from None  # an error CPython made of a Ctrl-C
    except CommandError as exc:
        _log_failure(args.command)
        if exc.exit_code >= EXIT_INTERRUPTED:
            _ignore_further_signals(ignored)
        _fail(exc.message)
        return exc.exit_code
    except (InvalidInputError, ConfigurationError) as exc:
        # refused before any request (a bad number, OTP, sender, URL, key format...)
        _log_failure(args.command)
        _fail(_in_option_terms(_describe(exc), args))
        if exc.outcome_unknown:  # never 1 or 2, which scripts may retry
            return EXIT_OUTCOME_UNKNOWN
        return EXIT_USAGE if exc.status is None else EXIT_FAILURE
    except TwoFactorError as exc:
        _log_failure(args.command)
        _fail(_describe(exc))
        return EXIT_OUTCOME_UNKNOWN if exc.outcome_unknown else EXIT_FAILURE
    except KeyboardInterrupt:
        _ignore_further_signals(ignored)
        if client_made():
            # a request on its way when Ctrl-C came may have reached 2Factor
            _fail(f"interrupted ({INTERRUPTED_HINT})")
        else:
            _fail("interrupted before any request was made; nothing was sent")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILURE  # the reader of our output went away (| head)
    except OSError as exc:
        _fail(
            f"{exc.strerror or type(exc).__name__}" + (f": {exc.filename}" if exc.filename else "")
        )
        return EXIT_FAILURE
    except Exception as exc:
        # not the library's error: a plugin's crash, or a bug. Whether a request went is not
        # known, so it is reported as an outcome unknown (never 1, which scripts may retry).
        _log_failure(args.command)
        text = hide_keys(redact(str(exc)))  # redacted whole, then shortened: a key that
        if len(text) > 300:  # crossed the cut would no longer be recognised
            text = text[:299] + "…"
        _fail(f"unexpected {type(exc).__name__}: {text} ({OUTCOME_UNKNOWN_HINT})")
        return EXIT_OUTCOME_UNKNOWN
