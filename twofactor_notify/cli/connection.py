"""How a command reaches 2Factor: base URL, timeout and keys -> client and transport.

Keys come only from the environment (``TWOFACTOR_API_KEY``, ``TWOFACTOR_SECRET_KEY``) or, on
a terminal, from a hidden prompt: never from the command line, where ``ps`` and the shell
history would keep them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterable
from urllib.parse import quote

from ..client import DEFAULT_BASE_URL, TwoFactorClient
from ..errors import InvalidInputError
from ..redaction import REDACTED
from ..transport import TwoFactorTransport
from ..validation import validate_base_url, validate_timeout
from .errors import EXIT_INTERRUPTED, CommandError, UsageError
from .interrupt import interruption, raise_if_interrupted
from .options import option_type
from .output import hide_for_this_run

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_TIMEOUT",
    "SECRET_KEY_ENV",
    "add_connection_options",
    "api_key_from_environment",
    "base_url",
    "client_made",
    "forget_client",
    "hide_keys",
    "make_client",
    "make_transport",
    "stdin_is_terminal",
]

API_KEY_ENV = "TWOFACTOR_API_KEY"
SECRET_KEY_ENV = "TWOFACTOR_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
BASE_URL_ENV = "TWOFACTOR_BASE_URL"
DEFAULT_TIMEOUT = 10.0


def add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add ``--base-url`` and ``--timeout``.

    The top-level parser gets real defaults; each subcommand gets them again with
    ``suppress=True`` (no default), so they may be typed before or after the command name.
    """
    parser.add_argument(
        "--base-url",
        metavar="URL",
        type=option_type("base_url"),
        default=argparse.SUPPRESS if suppress else None,
        help=f"API base URL, e.g. a sandbox's (env {BASE_URL_ENV}; default {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=argparse.SUPPRESS if suppress else DEFAULT_TIMEOUT,
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )


def _positive_float(text: str) -> float:
    try:
        value = validate_timeout(text, field="the value")
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    if isinstance(value, tuple):  # never: a text is one number
        raise argparse.ArgumentTypeError("must be one number of seconds")
    return value


def base_url(args: argparse.Namespace) -> str:
    """``--base-url``, else ``TWOFACTOR_BASE_URL``, else 2Factor's own URL; checked by the
    client's own rule, the error naming where the value came from.

    :raises UsageError: it is not an absolute http(s) URL a request can be built on.
    """
    if args.base_url:
        value, source = str(args.base_url), "--base-url"
    else:
        value, source = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL, BASE_URL_ENV
    try:
        return validate_base_url(value, field=source)
    except InvalidInputError as exc:
        raise UsageError(f"{exc.message}; nothing was sent") from None


def stdin_is_terminal() -> bool:
    """True when a person can answer a prompt."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def api_key_from_environment() -> str | None:
    """``TWOFACTOR_API_KEY`` (stripped), or ``None`` when unset or empty."""
    return os.environ.get(API_KEY_ENV, "").strip() or None


def _api_key() -> str:
    key = api_key_from_environment()
    if key:
        return key
    if stdin_is_terminal():
        try:
            key = getpass.getpass("2Factor API key (input hidden): ").strip()
        except EOFError:  # Ctrl-D: no key given
            key = ""
        except BaseException as exc:
            if interruption(exc) is None:
                raise
            stopped = CommandError("interrupted at the API key prompt; nothing was sent")
            stopped.exit_code = EXIT_INTERRUPTED
            raise stopped from None
        if key:
            hide_for_this_run(key)
            return key
    raise UsageError(
        f"no API key: set {API_KEY_ENV} in the environment "
        "(keys are never taken as command-line arguments)"
    )


class _Progress:
    """Whether this run of the command line made a client, so that a request may have
    started: an interruption before that is known to have sent nothing."""

    client_made = False


def client_made() -> bool:
    """True once :func:`make_client` returned a client in this run of the command line."""
    return _Progress.client_made


def forget_client() -> None:
    """Start a new run of the command line (:func:`client_made` is false again)."""
    _Progress.client_made = False


def hide_keys(text: str) -> str:
    """``text`` with the keys this command reads (from the environment) redacted, even after
    its client was closed and forgot them (a plugin's error may quote them)."""
    for name in (API_KEY_ENV, SECRET_KEY_ENV):
        value = os.environ.get(name, "").strip()
        if len(value) >= 6:
            text = text.replace(value, REDACTED).replace(quote(value, safe=""), REDACTED)
    return text


def make_client(args: argparse.Namespace) -> TwoFactorClient:
    """A client for the chosen base URL, with the keys from the environment or a prompt."""
    raise_if_interrupted()  # a Ctrl-C Python swallowed: nothing is sent after it
    secret_key = os.environ.get(SECRET_KEY_ENV, "").strip() or None
    client = TwoFactorClient(
        _api_key(),
        base_url=base_url(args),
        timeout=args.timeout,
        secret_key=secret_key,
    )
    _Progress.client_made = True
    return client


def make_transport(
    args: argparse.Namespace, *, plugins: Iterable[object] = ()
) -> TwoFactorTransport:
    """A :class:`TwoFactorTransport` over :func:`make_client` (entry-point plugins load too)."""
    return TwoFactorTransport(make_client(args), plugins=plugins)
