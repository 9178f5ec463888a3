"""``manage.py twofactor_send_test PHONE (--otp | --sms TEXT)``: check the setup end to end."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from twofactor_notify.errors import TwoFactorError
from twofactor_notify.models import SMSSent

from ...api import get_transport, send_otp, send_sms
from ...conf import get_settings


class Command(BaseCommand):
    """Send a test OTP or SMS through the configured backend. Never prints a secret."""

    help = "Send a test OTP (--otp) or text message (--sms TEXT) to PHONE."

    def add_arguments(self, parser: CommandParser) -> None:
        """PHONE and one of --otp / --sms."""
        parser.add_argument("phone", help="recipient, e.g. +919876543210")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--otp", action="store_true", help="send an OTP (OTP_TEMPLATE)")
        kind.add_argument("--sms", metavar="TEXT", help="send this text (SENDER_ID)")
        parser.add_argument("--template", help="OTP template instead of OTP_TEMPLATE")
        parser.add_argument("--sender", help="sender id instead of SENDER_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        """Send and report the 2Factor id."""
        phone: str = options["phone"]
        try:
            if options["otp"]:
                sent = send_otp(phone, template=options["template"])
                self.stdout.write(
                    self.style.SUCCESS(f"OTP sent to {sent.to} (session id {sent.session_id}).")
                )
            else:
                sms = send_sms(phone, options["sms"], sender=options["sender"])
                if not isinstance(sms, SMSSent):  # sent synchronously: only fail_silently
                    raise CommandError("the SMS was not sent")  # gives None, and it is off
                self.stdout.write(
                    self.style.SUCCESS(
                        f"SMS queued to {', '.join(sms.to)} (message id {sms.message_id})."
                    )
                )
        except TwoFactorError as exc:
            # core errors never hold the API key, the secret key or an OTP
            raise CommandError(f"{type(exc).__name__}: {exc}") from None
        self.stdout.write(
            f"Backend: {get_settings().backend} ({type(get_transport()).__name__}). "
            "Queued is not delivered: see `manage.py twofactor_status`."
        )
