"""``send-sms``: a transactional or promotional text message to one or more numbers."""

from __future__ import annotations

import argparse
from datetime import datetime

from ..errors import InvalidInputError
from ..validation import format_schedule_time
from .connection import make_transport
from .console import Console, mask_number
from .errors import EXIT_OK
from .options import CHECKED_ATTRIBUTE, option_type

__all__ = ["parse_schedule", "register"]


def parse_schedule(text: str) -> datetime:
    """``'YYYY-MM-DD HH:MM'`` (India time unless an offset such as ``+00:00`` is given)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'YYYY-MM-DD HH:MM' (India time), got {text!r}"
        ) from None
    try:
        format_schedule_time(when)  # the library's rule: ahead, and within range
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return when


setattr(parse_schedule, CHECKED_ATTRIBUTE, "schedule")


def _recipients(text: str) -> list[str]:
    numbers = [part.strip() for part in text.split(",") if part.strip()]
    if not numbers:
        raise argparse.ArgumentTypeError("no phone number given")
    return numbers


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    """Add the ``send-sms`` command."""
    sms = commands.add_parser(
        "send-sms",
        parents=[parent],
        help="send a transactional (or --promo) SMS",
        description="Send a text message through 2Factor's R1 endpoint. In India the text "
        "must match a DLT-approved template of the sender id.",
    )
    sms.add_argument(
        "phones",
        metavar="PHONE[,PHONE...]",
        type=_recipients,
        help="one number, or several separated by commas",
    )
    sms.add_argument("text", metavar="TEXT", help="the message text (a DLT-approved template)")
    sms.add_argument(
        "--sender",
        metavar="ID",
        required=True,
        type=option_type("sender"),
        help="DLT sender id, e.g. TFACTR",
    )
    sms.add_argument("--promo", action="store_true", help="promotional (PROMO_SMS) route")
    sms.add_argument(
        "--schedule",
        metavar="'YYYY-MM-DD HH:MM'",
        type=parse_schedule,
        help="send later (India time; at least 5 minutes ahead)",
    )
    sms.add_argument(
        "--pe-id", metavar="ID", type=option_type("pe_id"), help="DLT principal entity id"
    )
    sms.add_argument(
        "--ct-id", metavar="ID", type=option_type("ct_id"), help="DLT content template id"
    )
    sms.add_argument(
        "--campaign-name",
        metavar="NAME",
        type=option_type("campaign_name"),
        help="click-tracking campaign name",
    )
    sms.add_argument(
        "--campaign-webhook",
        metavar="URL",
        type=option_type("url"),
        help="where 2Factor POSTs clicks (needs a campaign)",
    )
    sms.add_argument("--shorten-urls", action="store_true", help="shorten links in the text")
    sms.add_argument(
        "--shorten-url-webhook",
        metavar="URL",
        type=option_type("url"),
        help="where short-link clicks go",
    )
    sms.add_argument(
        "--shorten-url-callback", metavar="VALUE", help="value echoed in short-link clicks"
    )
    sms.set_defaults(handler=run_send_sms)


def run_send_sms(args: argparse.Namespace) -> int:
    """Send the message and print its id."""
    console = Console(as_json=args.json)
    with make_transport(args) as transport:
        sent = transport.send_sms(
            args.phones,
            args.text,
            sender=args.sender,
            promotional=args.promo,
            schedule_at=args.schedule,
            pe_id=args.pe_id,
            ct_id=args.ct_id,
            campaign_name=args.campaign_name,
            campaign_webhook=args.campaign_webhook,
            shorten_urls=args.shorten_urls,
            shorten_url_webhook=args.shorten_url_webhook,
            shorten_url_callback=args.shorten_url_callback,
        )
    console.json({"message_id": sent.message_id, "to": list(sent.to)})
    kind = "promotional SMS" if args.promo else "SMS"
    where = ", ".join(mask_number(n) for n in sent.to)
    console.line(f"{console.mark(True)} {kind} accepted for {where}")
    console.line(f"  message id  {sent.message_id}")
    if args.schedule is not None:
        console.line(f"  scheduled   {args.schedule:%Y-%m-%d %H:%M} (India time unless offset)")
    return EXIT_OK
