"""``demo``: the whole library in a few seconds, on the embedded emulator by default.

Without ``TWOFACTOR_API_KEY`` (or with ``--local``) it starts the emulator in-process and a
delivery-report webhook on 127.0.0.1, then sends an OTP and verifies it, shows a wrong code
refused, sends a transactional SMS and a bulk batch with one bad number, and waits for the
delivery reports to come back through ``on_delivery``. With a key it does the same against
the real service (after confirmation, to the ``--to`` number only, and without the delivery
reports, which need a public webhook).
"""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..client import TwoFactorClient
from ..emulator import Emulator
from ..models import BulkMessage, DeliveryReport, OTPSent
from ..phone import normalize_phone
from ..transport import Transport, TwoFactorTransport
from ..validation import validate_otp_code
from .connection import api_key_from_environment, base_url, make_client, stdin_is_terminal
from .console import Console, mask_number
from .errors import EXIT_FAILURE, EXIT_OK, UsageError
from .options import option_type
from .receiver import DeliveryCollector, LocalDeliveryReceiver

__all__ = ["SAMPLE_PHONE", "register"]

#: The number the local demo sends to (the emulator's "phone").
SAMPLE_PHONE = "+91 98765 43210"
_SENDER = "TFACTR"
_SMS_TEXT = "Your order 1234 has shipped. - TFACTR"
_BULK_NUMBERS = (
    "+91 98765 43210",
    "+91 91234 56780",
    "12345",
    "+91 87654 32109",
    "+91 70123 45678",
)
_REPORT_TIMEOUT = 10.0


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    """Add the ``demo`` command."""
    demo = commands.add_parser(
        "demo",
        parents=[parent],
        help="OTP, SMS, bulk and delivery reports end to end (local emulator by default)",
        description="Run the library end to end. Without TWOFACTOR_API_KEY (or with --local) "
        "everything happens on an embedded emulator: no network, no key, no credits. With "
        "TWOFACTOR_API_KEY set it uses the real service: it needs --to (your own number) and "
        "asks before sending (--yes skips the question; required without a terminal).",
    )
    demo.add_argument(
        "--to",
        metavar="PHONE",
        type=option_type("phone"),
        help="recipient (required for the real service)",
    )
    demo.add_argument("--yes", action="store_true", help="do not ask before real sends")
    demo.add_argument(
        "--local", action="store_true", help="use the embedded emulator even with a key set"
    )
    demo.add_argument(
        "--sender",
        metavar="ID",
        type=option_type("sender"),
        help="real service: DLT sender id for the SMS and bulk steps",
    )
    demo.add_argument(
        "--text", metavar="TEXT", help="real service: a DLT-approved text for those steps"
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the local demo, or the real-service one when a key is in the environment."""
    console = Console()
    if args.local or api_key_from_environment() is None:
        return _run_local(args, console)
    return _run_live(args, console)


def _short(identifier: str) -> str:
    return identifier if len(identifier) <= 12 else identifier[:8] + "..."


def _wrong_code(code: str) -> str:
    """A code of the same length that is certainly not ``code``."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


@dataclass(slots=True)
class _Run:
    """The steps, shared by the local and the real-service demo; remembers what went wrong."""

    console: Console
    transport: Transport
    ok: bool = True
    labels: dict[str, str] = field(default_factory=dict)  # message id -> what it was
    expected_reports: int = 0

    def check(self, ok: bool, label: str, detail: str = "") -> None:
        self.ok = self.ok and ok
        self.console.step(ok, label, detail)

    def otp(self, phone: str, *, include_otp: bool, read_code: Callable[[OTPSent], str]) -> None:
        self.console.line("OTP login")
        sent = self.transport.send_otp(phone, include_otp=include_otp)
        self.check(
            True, f"OTP sent to {mask_number(sent.to)}", f"session {_short(sent.session_id)}"
        )
        code = validate_otp_code(read_code(sent))
        wrong = self.transport.verify_otp(_wrong_code(code), session_id=sent.session_id)
        self.check(not wrong.matched, "wrong code refused", f"2Factor: {wrong.details}")
        right = self.transport.verify_otp(code, session_id=sent.session_id)
        self.check(right.matched, "right code verified", f"2Factor: {right.details}")

    def sms(self, phone: str, text: str, sender: str) -> None:
        self.console.line("Transactional SMS")
        sent = self.transport.send_sms(phone, text, sender=sender)
        self.labels[sent.message_id] = "transactional SMS"
        self.expected_reports += len(sent.to)
        where = ", ".join(mask_number(n) for n in sent.to)
        self.check(True, f"accepted for {where}", f"message id {_short(sent.message_id)}")

    def bulk(self, numbers: tuple[str, ...], text: str, sender: str) -> None:
        self.console.line(f"Bulk batch of {len(numbers)}")
        messages = [
            BulkMessage(to=n, text=text, sender=sender, callback_value1=f"demo-{i + 1}")
            for i, n in enumerate(numbers)
        ]
        result = self.transport.send_bulk(messages)
        for accepted in result.accepted:
            self.labels[accepted.message_id] = f"bulk message {accepted.index + 1}"
        self.expected_reports += len(result.accepted)
        good = sum(1 for n in numbers if _is_valid(n))
        self.check(len(result.accepted) == good, f"{len(result.accepted)} accepted")
        for rejected in result.rejected:
            self.check(
                not _is_valid(numbers[rejected.index]),
                f"message {rejected.index + 1} rejected",
                rejected.reason,
            )
        for failure in result.failed_chunks:
            self.check(False, f"{failure.count} not sent", f"{failure.error}: {failure.message}")

    def reports(self, collector: DeliveryCollector) -> None:
        self.console.line("Delivery reports (webhook -> WebhookReceiver -> on_delivery)")
        reports = collector.wait(self.expected_reports, _REPORT_TIMEOUT)
        for report in sorted(reports, key=self._order):
            self.check(
                report.status.delivered,
                f"{mask_number(report.to)}  {report.raw_status or report.status.value}",
                self.labels.get(report.message_id, f"message {_short(report.message_id)}"),
            )
        self.check(
            len(reports) >= self.expected_reports,
            f"{len(reports)} of {self.expected_reports} reports arrived",
        )

    def _order(self, report: DeliveryReport) -> tuple[int, str]:
        label = self.labels.get(report.message_id, "~")
        digits = "".join(ch for ch in label if ch.isdigit())
        return (0 if label.startswith("transactional") else 1, digits.zfill(4))


def _is_valid(number: str) -> bool:
    try:
        normalize_phone(number)
    except ValueError:
        return False
    return True


def _run_local(args: argparse.Namespace, console: Console) -> int:
    started = time.perf_counter()
    phone = args.to or SAMPLE_PHONE
    normalize_phone(phone)  # a bad --to is a usage error before anything starts
    collector = DeliveryCollector()
    with Emulator() as emulator:
        client = TwoFactorClient(
            api_key=emulator.api_key,
            base_url=emulator.url,
            secret_key=emulator.secret_key,
            timeout=args.timeout,
        )
        transport = TwoFactorTransport(client, plugins=[collector], load_entrypoints=False)
        with transport, LocalDeliveryReceiver(transport) as receiver:
            emulator.callback_url = receiver.callback_url
            console.line(f"twofactor-notify demo on the local 2Factor emulator at {emulator.url}")
            console.line("(no network, no API key, no credits; numbers masked, OTPs not shown)")
            console.line()
            run = _Run(console, transport)

            def read_phone(sent: OTPSent) -> str:
                code = emulator.last_otp(sent.to)  # as the user would read it on their phone
                if code is None:
                    raise UsageError("the emulator recorded no OTP")  # cannot happen
                return code

            run.otp(phone, include_otp=False, read_code=read_phone)
            run.sms(phone, _SMS_TEXT, _SENDER)
            run.bulk(_BULK_NUMBERS, "Your statement is ready. - TFACTR", _SENDER)
            run.reports(collector)
    console.line()
    elapsed = time.perf_counter() - started
    if run.ok:
        console.line(f"Done in {elapsed:.1f} s: every step behaved as expected.")
        return EXIT_OK
    console.line(
        f"Done in {elapsed:.1f} s: some steps did not behave as expected "
        f"(marked {console.fail_mark})."
    )
    return EXIT_FAILURE


def _confirm(args: argparse.Namespace, console: Console, plan: list[str], where: str) -> bool:
    console.line(f"This will send real SMS through {where}, paid from your 2Factor balance:")
    for item in plan:
        console.line(f"  - {item}")
    if args.yes:
        return True
    if not stdin_is_terminal():
        raise UsageError(
            "the demo sends real SMS with TWOFACTOR_API_KEY set: run it on a terminal to "
            "confirm, pass --yes, or use --local for the emulator"
        )
    answer = input("Send them? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _run_live(args: argparse.Namespace, console: Console) -> int:
    if not args.to:
        raise UsageError(
            "with TWOFACTOR_API_KEY set the demo uses the real service: give --to PHONE "
            "(your own number), or --local for the emulator"
        )
    phone = normalize_phone(args.to)
    with_sms = bool(args.sender and args.text)
    plan = [f"1 OTP to {mask_number(phone)}"]
    if with_sms:
        plan.append(f"1 transactional SMS and 1 bulk SMS to {mask_number(phone)}")
    where = base_url(args)
    if not _confirm(args, console, plan, where):
        console.line("Nothing sent.")
        return EXIT_FAILURE
    ask = stdin_is_terminal()
    console.line()
    # Real, billed sends: installed plugins (a send guard, an audit log) apply, as they do
    # to the other commands.
    with TwoFactorTransport(make_client(args)) as transport:
        run = _Run(console, transport)

        def read_code(sent: OTPSent) -> str:
            if sent.otp:  # no terminal: 2Factor returned it (AUTOGEN2)
                return sent.otp
            return getpass.getpass("  Type the code you received (hidden): ").strip()

        run.otp(phone, include_otp=not ask, read_code=read_code)
        if with_sms:
            run.sms(phone, args.text, args.sender)
            run.bulk((phone, "12345"), args.text, args.sender)
        else:
            console.line("SMS and bulk steps skipped: give --sender and --text (DLT-approved).")
    console.line(
        "Delivery reports skipped: 2Factor must reach a public webhook URL "
        "(see the Django/Flask webhook views)."
    )
    console.line()
    if not run.ok:
        console.line(f"Done: some steps did not behave as expected (marked {console.fail_mark}).")
        return EXIT_FAILURE
    console.line("Done.")
    return EXIT_OK
