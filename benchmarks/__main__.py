"""``python -m benchmarks [--smoke] [--only NAME ...]``: run the benchmarks, print the tables.

Exits non-zero only when a benchmark crashes; a missed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

from . import MODULES
from ._support import machine_summary


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; 1 if any crashed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check they still run")
    parser.add_argument(
        "--only",
        action="append",
        choices=MODULES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(MODULES)}",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", "1")
    selected = args.only or list(MODULES)
    print(f"# twofactor-notify benchmarks ({'smoke' if args.smoke else 'full'} run)")
    print(f"# {machine_summary()}")
    if args.smoke:
        print("# smoke sizes: the figures are too small to mean anything; this checks they run")
    print()
    crashed = []
    started = time.perf_counter()
    for name in selected:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            table = module.run(args.smoke)
        except Exception:
            crashed.append(name)
            print(f"## {name}: CRASHED", flush=True)
            traceback.print_exc()
            print(flush=True)
            continue
        table.seconds = time.perf_counter() - t0
        print(table.render(), flush=True)
        print(flush=True)
    print(f"# total {time.perf_counter() - started:.1f} s", flush=True)
    if crashed:
        print(f"# crashed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
