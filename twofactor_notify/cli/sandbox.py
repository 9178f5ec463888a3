"""``sandbox``: run the local 2Factor emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ..emulator import DEFAULT_PORT, Emulator
from ..emulator.cli import exposure_warning, milliseconds_argument, port_argument
from .connection import API_KEY_ENV, BASE_URL_ENV, SECRET_KEY_ENV
from .errors import EXIT_OK, CommandError
from .interrupt import interruption
from .options import option_type

__all__ = ["register"]


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    """Add the ``sandbox`` command."""
    sandbox = commands.add_parser(
        "sandbox",
        help="run a local 2Factor emulator (no network, no credits)",
        description="Serve the 2Factor emulator in the foreground and print its URL and its "
        "(random, local-only) keys. Ctrl-C stops it.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    sandbox.add_argument(
        "--port",
        type=port_argument,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT})",
    )
    sandbox.add_argument(
        "--latency",
        metavar="MS",
        type=milliseconds_argument,
        default=0.0,
        help="added to every answer",
    )
    sandbox.add_argument(
        "--callback-url",
        metavar="URL",
        type=option_type("url"),
        help="where delivery reports go",
    )
    sandbox.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients may use besides localhost and IP addresses (repeatable)",
    )
    sandbox.set_defaults(handler=run_sandbox)


@contextlib.contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """Make SIGTERM end the sandbox as Ctrl-C does (only the main thread can handle it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sandbox(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    emulator = Emulator(
        host=args.host,
        port=args.port,
        latency_ms=args.latency,
        callback_url=args.callback_url,
        allowed_hosts=args.allow_host,
    )
    try:
        emulator.start()
    except (OSError, OverflowError) as exc:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    stop = threading.Event()
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        with _stop_on_sigterm(stop):
            # The emulator's keys are random and local-only: showing them is the point.
            print(f"2Factor sandbox running at {emulator.url}", flush=True)
            print("Point the library or this command at it from another shell:")
            print(f"  export {BASE_URL_ENV}={emulator.url}")
            print(f"  export {API_KEY_ENV}={emulator.api_key}")
            print(f"  export {SECRET_KEY_ENV}={emulator.secret_key}")
            if args.callback_url:
                print(f"Delivery reports are POSTed to {args.callback_url}")
            print(f"Sent messages: {emulator.url}/__emulator__/messages")
            print("Press Ctrl-C to stop.", flush=True)
            while not stop.wait(0.5):
                pass
    except BaseException as exc:
        if interruption(exc) is None:
            raise
    finally:
        emulator.stop()
    print("sandbox stopped", flush=True)
    return EXIT_OK
