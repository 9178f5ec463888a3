"""A local, stateful emulator of the 2Factor.in HTTP API (OTP, R1, Bulk, encrypted).

Same paths, methods, answers and error strings as 2Factor's API reference, with OTP state,
delivery reports and click webhooks POSTed to your URL, fault injection, and an inspection
API. Start it in-process::

    from twofactor_notify.emulator import Emulator

    with Emulator() as emu:
        client = TwoFactorClient(emu.api_key, base_url=emu.url, secret_key=emu.secret_key)
        ...
        otp = emu.last_otp("9876543210")

or as a process: ``python -m twofactor_notify.emulator --port 8765``. In pytest, use the
fixtures of :mod:`twofactor_notify.pytest_plugin`. See ``docs/emulator.md``.
"""

from __future__ import annotations

from .callbacks import DeliveryAttempt
from .cli import DEFAULT_PORT, serve_forever
from .emulator import Emulator
from .faults import FAULT_KINDS, Fault
from .requestlog import RequestLogEntry
from .state import Account, MessageRecord

__all__ = [
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "Account",
    "DeliveryAttempt",
    "Emulator",
    "Fault",
    "MessageRecord",
    "RequestLogEntry",
    "serve_forever",
]
