"""The standalone emulator process: ``python -m twofactor_notify.emulator``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TextIO

from .emulator import Emulator, checked_media_type
from .server import is_loopback_host

__all__ = [
    "DEFAULT_PORT",
    "exposure_warning",
    "main",
    "milliseconds_argument",
    "port_argument",
    "serve_forever",
]

#: Port of the standalone emulator unless told otherwise.
DEFAULT_PORT = 8765
PROG = "python -m twofactor_notify.emulator"


class ListenError(Exception):
    """The emulator could not bind its address (busy port, unknown host...)."""


def exposure_warning(host: str) -> str | None:
    """The warning to show when ``host`` is not a loopback interface, else ``None``."""
    if is_loopback_host(host):
        return None
    return (
        f"warning: listening on {host}, not only on this machine: anyone who can reach it can "
        "read the messages and OTPs it holds, reset it and inject faults (the emulator has no "
        "authentication). Use --host 127.0.0.1 unless you need it reachable."
    )


def serve_forever(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    latency_ms: float = 0.0,
    callback_url: str | None = None,
    *,
    api_key: str | None = None,
    secret_key: str | None = None,
    otp_ttl: float = 180.0,
    sandbox_style_success: bool = False,
    allowed_hosts: Iterable[str] = (),
    banner: TextIO | None = None,
    sandbox: bool = False,
    json_content_type: str = "application/json",
) -> None:
    """Run an emulator until interrupted (Ctrl-C or SIGTERM).

    Prints a banner with the URL, the API key and the secret key to ``banner`` (stdout by
    default): the one place the emulator ever shows its keys. ``sandbox=True`` puts the
    default account in sandbox mode (:attr:`.Emulator.sandbox`).

    :raises ListenError: the address could not be bound (the message says why).
    """
    out = banner if banner is not None else sys.stdout
    emulator = Emulator(
        host=host,
        port=port,
        api_key=api_key,
        secret_key=secret_key,
        otp_ttl=otp_ttl,
        latency_ms=latency_ms,
        callback_url=callback_url,
        sandbox_style_success=sandbox_style_success,
        allowed_hosts=allowed_hosts,
        sandbox=sandbox,
        json_content_type=json_content_type,
    )
    try:
        emulator.start()
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        warning = exposure_warning(host)
        if warning:
            print(warning, file=sys.stderr, flush=True)
        print(f"2Factor emulator running at {emulator.url}", file=out)
        print(f"  API key:    {emulator.api_key}", file=out)
        print(f"  Secret key: {emulator.secret_key}", file=out)
        if callback_url:
            print(f"  Delivery reports go to {callback_url}", file=out)
        if sandbox:
            print("  Sandbox mode: dummy answers, nothing delivered", file=out)
        print("  Inspect: GET /__emulator__/messages   (Ctrl-C to stop)", file=out, flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def port_argument(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 to 65535 (0: any free port)")
    return value


def milliseconds_argument(text: str) -> float:
    """An argparse type: a finite number of milliseconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def _seconds(text: str) -> float:
    value = milliseconds_argument(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _media_type(text: str) -> str:
    try:
        return checked_media_type(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run :func:`serve_forever`.

    Returns 0 after a clean stop, 1 when the address cannot be bound (one line on stderr);
    a bad argument exits 2 (argparse).
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A local, stateful 2Factor.in API emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=port_argument,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0: any)",
    )
    parser.add_argument(
        "--latency", type=milliseconds_argument, default=0.0, metavar="MS", help="added latency"
    )
    parser.add_argument("--callback-url", default=None, help="where delivery reports go")
    parser.add_argument("--api-key", default=None, help="API key (random by default)")
    parser.add_argument("--secret-key", default=None, help="secret key (random by default)")
    parser.add_argument("--otp-ttl", type=_seconds, default=180.0, help="OTP validity, seconds")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients may use besides localhost and IP addresses (repeatable)",
    )
    parser.add_argument(
        "--sandbox-style-success",
        action="store_true",
        help='answer matched OTPs with "Status": "Success"',
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="sandbox mode for the default account: the reference's dummy answers, "
        "nothing delivered",
    )
    parser.add_argument(
        "--json-content-type",
        type=_media_type,
        default="application/json",
        metavar="TYPE",
        help="Content-Type of the JSON answers (default application/json)",
    )
    args = parser.parse_args(argv)
    try:
        serve_forever(
            args.host,
            args.port,
            args.latency,
            args.callback_url,
            api_key=args.api_key,
            secret_key=args.secret_key,
            otp_ttl=args.otp_ttl,
            sandbox_style_success=args.sandbox_style_success,
            allowed_hosts=args.allow_host,
            sandbox=args.sandbox,
            json_content_type=args.json_content_type,
        )
    except ListenError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
