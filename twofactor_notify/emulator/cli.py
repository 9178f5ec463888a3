"""The standalone emulator process: ``python -m twofactor_notify.emulator``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from .emulator import Emulator

__all__ = ["DEFAULT_PORT", "main", "serve_forever"]

#: Port of the standalone emulator unless told otherwise.
DEFAULT_PORT = 8765


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
    banner: TextIO | None = None,
) -> None:
    """Run an emulator until interrupted (Ctrl-C or SIGTERM).

    Prints a banner with the URL, the API key and the secret key to ``banner`` (stdout by
    default): the one place the emulator ever shows its keys.
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
    )
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    emulator.start()
    try:
        print(f"2Factor emulator running at {emulator.url}", file=out)
        print(f"  API key:    {emulator.api_key}", file=out)
        print(f"  Secret key: {emulator.secret_key}", file=out)
        if callback_url:
            print(f"  Delivery reports go to {callback_url}", file=out)
        print("  Inspect: GET /__emulator__/messages   (Ctrl-C to stop)", file=out, flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run :func:`serve_forever`."""
    parser = argparse.ArgumentParser(
        prog="python -m twofactor_notify.emulator",
        description="A local, stateful 2Factor.in API emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS", help="added latency")
    parser.add_argument("--callback-url", default=None, help="where delivery reports go")
    parser.add_argument("--api-key", default=None, help="API key (random by default)")
    parser.add_argument("--secret-key", default=None, help="secret key (random by default)")
    parser.add_argument("--otp-ttl", type=float, default=180.0, help="OTP validity, seconds")
    parser.add_argument(
        "--sandbox-style-success",
        action="store_true",
        help='answer matched OTPs with "Status": "Success"',
    )
    args = parser.parse_args(argv)
    serve_forever(
        args.host,
        args.port,
        args.latency,
        args.callback_url,
        api_key=args.api_key,
        secret_key=args.secret_key,
        otp_ttl=args.otp_ttl,
        sandbox_style_success=args.sandbox_style_success,
    )
    return 0
