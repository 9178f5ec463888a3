"""``python -m twofactor_notify.emulator --port N --latency MS --callback-url URL``."""

from .cli import main

raise SystemExit(main())
