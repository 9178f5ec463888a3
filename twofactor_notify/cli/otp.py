"""``send-otp`` and ``verify``: one-time passwords by SMS."""

from __future__ import annotations

import argparse

from ..models import VerificationOutcome
from .connection import make_transport
from .console import Console, mask_number
from .errors import EXIT_FAILURE, EXIT_OK
from .options import option_type

__all__ = ["register"]

_OUTCOME_TEXT = {
    VerificationOutcome.MATCHED: "OTP matched",
    VerificationOutcome.MISMATCH: "wrong code",
    VerificationOutcome.EXPIRED: "OTP expired or already used",
    VerificationOutcome.UNKNOWN_SESSION: "no such OTP session",
}


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    """Add the ``send-otp`` and ``verify`` commands."""
    send = commands.add_parser(
        "send-otp",
        parents=[parent],
        help="send an OTP by SMS",
        description=(
            "Send a one-time password by SMS. 2Factor generates a 6-digit OTP unless "
            "--length 4 or --otp is given. Prints the session id to verify it with."
        ),
    )
    send.add_argument(
        "phone",
        metavar="PHONE",
        type=option_type("otp_phone"),
        help="recipient, e.g. '+91 98765 43210'",
    )
    send.add_argument(
        "--template",
        metavar="NAME",
        type=option_type("template"),
        help="OTP template registered with 2Factor",
    )
    how = send.add_mutually_exclusive_group()
    how.add_argument(
        "--otp", metavar="CODE", type=option_type("otp"), help="send this OTP (4-6 digits) instead"
    )
    how.add_argument(
        "--length", type=int, choices=(4, 6), default=6, help="digits of a generated OTP"
    )
    how.add_argument(
        "--include-otp",
        action="store_true",
        help="ask 2Factor to return the generated OTP (AUTOGEN2) and print it",
    )
    send.set_defaults(handler=run_send_otp)

    verify = commands.add_parser(
        "verify",
        parents=[parent],
        help="verify an OTP the user typed",
        description="Verify an OTP by session id (VERIFY) or by phone number (VERIFY3). "
        "Exits 0 when it matched, 1 when it did not.",
    )
    verify.add_argument(
        "code", metavar="CODE", type=option_type("otp"), help="the 4-6 digit code the user typed"
    )
    target = verify.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--session-id",
        metavar="ID",
        type=option_type("session_id"),
        help="session id that send-otp printed",
    )
    target.add_argument(
        "--phone",
        metavar="PHONE",
        type=option_type("otp_phone"),
        help="verify the number's latest OTP",
    )
    verify.set_defaults(handler=run_verify)


def run_send_otp(args: argparse.Namespace) -> int:
    """Send the OTP and print its session id."""
    console = Console(as_json=args.json)
    with make_transport(args) as transport:
        sent = transport.send_otp(
            args.phone,
            template=args.template,
            otp=args.otp,
            length=args.length,
            include_otp=args.include_otp,
        )
    data: dict[str, object] = {"session_id": sent.session_id, "to": sent.to}
    if args.include_otp:  # asked for explicitly; a custom --otp is never echoed back
        data["otp"] = sent.otp
    console.json(data)
    console.line(f"{console.mark(True)} OTP sent to {mask_number(sent.to)}")
    console.line(f"  session id  {sent.session_id}")
    if args.include_otp and sent.otp:
        console.line(f"  OTP         {sent.otp}  (returned because of --include-otp)")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Verify the code; exit 0 only when it matched."""
    console = Console(as_json=args.json)
    with make_transport(args) as transport:
        result = transport.verify_otp(args.code, session_id=args.session_id, phone=args.phone)
    console.json(
        {"matched": result.matched, "outcome": result.outcome.value, "details": result.details}
    )
    text = _OUTCOME_TEXT.get(result.outcome, result.outcome.value)
    console.line(f"{console.mark(result.matched)} {text}  (2Factor: {result.details})")
    return EXIT_OK if result.matched else EXIT_FAILURE
