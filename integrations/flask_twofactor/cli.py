"""``flask twofactor …``: send and verify from the command line, with the app's config.

::

    flask twofactor send-otp 9876543210 [--template NAME] [--length 4|6] [--json]
    flask twofactor verify --session-id ID [--json]      # the code is prompted, hidden
    flask twofactor verify --phone 9876543210 [--json]
    flask twofactor send-sms 9876543210 [9876543211 …] --text "Hello" [--sender ID] [--json]

Secrets never go on the command line (where shell history and ``ps`` would keep them): the
API key comes from the app's config; the code to verify comes from ``TWOFACTOR_OTP_CODE``
in the environment or a hidden prompt, and is never printed.

Standard output holds only the command's result (with ``--json``, exactly one JSON object):
while a command runs, the ``console`` backend writes its lines to standard error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from flask.cli import AppGroup

from twofactor_notify.errors import TwoFactorError
from twofactor_notify.transport import ConsoleTransport, Transport

from .extension import get_state

__all__ = ["OTP_CODE_ENV", "twofactor_cli"]

#: Environment variable the ``verify`` command reads the code from, before prompting.
OTP_CODE_ENV = "TWOFACTOR_OTP_CODE"

twofactor_cli = AppGroup("twofactor", help="Send and verify 2Factor SMS OTPs and messages.")

_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object."
)


def _output(data: dict[str, Any], text: str, as_json: bool) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)


@contextmanager
def _cli_transport() -> Iterator[Transport]:
    """The app's transport; a console transport writing to stdout writes to stderr meanwhile."""
    transport = get_state().transport
    if not isinstance(transport, ConsoleTransport) or transport.stream is not None:
        yield transport
        return
    transport.stream = sys.stderr
    try:
        yield transport
    finally:
        transport.stream = None


def _fail(exc: TwoFactorError, as_json: bool) -> NoReturn:
    # str(exc) is redacted by construction: errors never carry keys or OTPs
    if as_json:
        click.echo(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
        raise SystemExit(1)
    raise click.ClickException(f"{type(exc).__name__}: {exc}")


@twofactor_cli.command("send-otp")
@click.argument("phone")
@click.option("--template", default=None, help="OTP template (default TWOFACTOR_OTP_TEMPLATE).")
@click.option(
    "--length", type=click.Choice(["4", "6"]), default="6", show_default=True, help="OTP digits."
)
@_json_option
def send_otp_command(phone: str, template: str | None, length: str, as_json: bool) -> None:
    """Send an OTP to PHONE and print the session id to verify it with."""
    try:
        with _cli_transport() as transport:
            sent = transport.send_otp(phone, template=template, length=int(length))
    except TwoFactorError as exc:
        _fail(exc, as_json)
    _output(
        {"ok": True, "session_id": sent.session_id, "to": sent.to},
        f"OTP sent to {sent.to}; session id: {sent.session_id}",
        as_json,
    )


@twofactor_cli.command("verify")
@click.option("--session-id", default=None, help="Session id printed by send-otp.")
@click.option("--phone", default=None, help="Verify the last OTP sent to this number instead.")
@_json_option
def verify_command(session_id: str | None, phone: str | None, as_json: bool) -> None:
    """Verify a code (read from TWOFACTOR_OTP_CODE or a hidden prompt). Exit 1 unless it matched."""
    if (session_id is None) == (phone is None):
        raise click.UsageError("give exactly one of --session-id and --phone")
    code = os.environ.get(OTP_CODE_ENV, "").strip() or str(
        click.prompt("Code", hide_input=True, type=str)
    )
    try:
        with _cli_transport() as transport:
            result = transport.verify_otp(code, session_id=session_id, phone=phone)
    except TwoFactorError as exc:
        _fail(exc, as_json)
    _output(
        {"ok": bool(result), "outcome": result.outcome.value, "details": result.details},
        f"{result.outcome.value}: {result.details}",
        as_json,
    )
    if not result:
        raise SystemExit(1)


@twofactor_cli.command("send-sms")
@click.argument("phones", nargs=-1, required=True)
@click.option("--text", required=True, help="The message text.")
@click.option("--sender", default=None, help="Sender id (default TWOFACTOR_SENDER_ID).")
@click.option("--promotional", is_flag=True, help="Send as PROMO_SMS instead of TRANS_SMS.")
@click.option("--pe-id", default=None, help="DLT principal entity id.")
@click.option("--ct-id", default=None, help="DLT content template id.")
@_json_option
def send_sms_command(
    phones: tuple[str, ...],
    text: str,
    sender: str | None,
    promotional: bool,
    pe_id: str | None,
    ct_id: str | None,
    as_json: bool,
) -> None:
    """Send TEXT to one or more PHONES and print the message id."""
    try:
        with _cli_transport() as transport:
            sent = transport.send_sms(
                phones, text, sender=sender, promotional=promotional, pe_id=pe_id, ct_id=ct_id
            )
    except TwoFactorError as exc:
        _fail(exc, as_json)
    _output(
        {"ok": True, "message_id": sent.message_id, "to": list(sent.to)},
        f"SMS queued for {', '.join(sent.to)}; message id: {sent.message_id}",
        as_json,
    )
