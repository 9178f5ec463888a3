"""The :class:`TwoFactor` extension and the per-app state it keeps in ``app.extensions``.

The extension object holds no app: ``init_app`` builds a :class:`TwoFactorState` (the
checked config, the transport, the webhook receiver) and stores it in
``app.extensions["twofactor"]``; every method looks the state up through ``current_app``.
One extension object can therefore serve any number of apps, each with its own config.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, overload

from flask import Flask, current_app

from twofactor_notify.boundary import ErrorBoundary
from twofactor_notify.config import build_transport as build_core_transport
from twofactor_notify.credentials import Secret
from twofactor_notify.models import (
    BulkMessage,
    BulkResult,
    Message,
    OTPSent,
    SMSMessage,
    SMSSent,
    Verification,
)
from twofactor_notify.redaction import (
    forget_secret,
    install_log_filter,
    library_logger,
    register_secret,
)
from twofactor_notify.sentry import install as install_sentry_scrubber
from twofactor_notify.transport import Transport
from twofactor_notify.validation import MAX_BULK_CHUNK, wants_background
from twofactor_notify.webhooks import WebhookReceiver

from .attempts import AttemptStore, MemoryAttemptStore
from .config import PREFIX, TwoFactorConfig, load_config
from .signals import SignalPlugin

if TYPE_CHECKING:
    from twofactor_notify.background import Envelope

__all__ = ["EXTENSION_KEY", "TwoFactor", "TwoFactorState", "get_state"]

#: The key of the extension's state in ``app.extensions``.
EXTENSION_KEY = "twofactor"

logger = library_logger("flask_twofactor")


@dataclass(eq=False, slots=True)
class TwoFactorState:
    """What ``init_app`` keeps for one app in ``app.extensions["twofactor"]``.

    :ivar config: the checked ``TWOFACTOR_*`` configuration.
    :ivar transport: the transport every send of this app goes through.
    :ivar receiver: the webhook receiver (token check, parsing, duplicate filter).
    :ivar signal_plugin: the core plugin that sends this app's blinker signals.
    :ivar attempt_store: the phone login's default throttling counts, for this app only
        (a :class:`~flask_twofactor.login.PhoneLogin` given no ``store`` uses it).
    """

    config: TwoFactorConfig
    transport: Transport
    receiver: WebhookReceiver
    signal_plugin: SignalPlugin
    attempt_store: AttemptStore = field(default_factory=MemoryAttemptStore)

    @property
    def suppressed(self) -> bool:
        """True when sending is suppressed (the in-memory transport stands in)."""
        return self.config.suppress

    def __repr__(self) -> str:
        return f"TwoFactorState(transport={self.transport!r}, suppressed={self.suppressed!r})"


def _forget_token(token: Secret) -> None:
    forget_secret(str(token.reveal()))


def get_state(app: Flask | None = None) -> TwoFactorState:
    """The extension state of ``app`` (default: ``current_app``).

    :raises RuntimeError: when ``init_app`` was not called on that app, or something else
        took its place in ``app.extensions``.
    """
    target = app if app is not None else current_app
    try:
        state = target.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "flask_twofactor is not initialised on this app: call TwoFactor(app) or "
            "twofactor.init_app(app) first"
        ) from None
    if not isinstance(state, TwoFactorState):
        raise RuntimeError(
            f"app.extensions[{EXTENSION_KEY!r}] holds a {type(state).__name__}, not "
            "flask_twofactor's state: another extension took the name; call "
            "TwoFactor(app) or twofactor.init_app(app) after it"
        )
    return state


def build_transport(config: TwoFactorConfig, plugin: SignalPlugin) -> Transport:
    """The transport ``config`` asks for, with ``plugin`` registered after the user plugins.

    The core builder (:func:`twofactor_notify.config.build_transport`) makes it; while
    sending is suppressed it is its ``memory`` backend.
    """
    options = replace(
        config.transport,
        backend="memory" if config.suppress else config.backend,
        plugins=(*config.plugins, plugin),
    )
    return build_core_transport(options, key_name=lambda option: PREFIX + option.upper())


class TwoFactor(ErrorBoundary):
    """The Flask extension: 2Factor OTPs and SMS for one or more apps.

    Direct or with an application factory::

        twofactor = TwoFactor()

        def create_app():
            app = Flask(__name__)
            app.config.from_prefixed_env()
            twofactor.init_app(app)
            return app

    Inside an app context, :meth:`send_otp`, :meth:`verify_otp`, :meth:`send_sms` and
    :meth:`send_bulk` go through the current app's transport. Each method is an error
    boundary (:class:`~twofactor_notify.boundary.ErrorBoundary`): a library error leaves it
    detached, with no frame below the caller's, so an OTP passed in stays in the caller's
    frame only.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check ``app``'s ``TWOFACTOR_*`` config, build its transport, register the rest.

        Registers the webhook blueprint (unless ``TWOFACTOR_WEBHOOKS`` is false) and the
        ``flask twofactor`` CLI group, and makes Sentry scrub keys and tokens from what it
        sends, if sentry-sdk is installed (:func:`twofactor_notify.sentry.install`).

        :raises ConfigurationError: naming the key that is missing or malformed.
        """
        from .blueprint import register_webhooks
        from .cli import twofactor_cli

        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("flask_twofactor is already initialised on this app")
        config = load_config(app.config, testing=app.testing)
        plugin = SignalPlugin(app)
        transport = build_transport(config, plugin)
        state = TwoFactorState(
            config=config,
            transport=transport,
            receiver=WebhookReceiver(
                transport, config.webhook_token, query_token=config.webhook_query_token
            ),
            signal_plugin=plugin,
        )
        if config.webhooks:
            try:
                register_webhooks(app, config)
            except BaseException:  # e.g. another blueprint named "twofactor"
                transport.close()
                raise
        app.extensions[EXTENSION_KEY] = state
        install_log_filter()  # access logs (werkzeug's, gunicorn's) print ?token= values
        install_sentry_scrubber()  # Sentry records frames, requests and URLs: scrub them
        if config.webhook_token is not None:
            # callback URLs carry the token: keep it out of urllib3's and our logs
            register_secret(str(config.webhook_token.reveal()))
            # the finalizer keeps its arguments until the app goes: the held token, not its text
            weakref.finalize(app, _forget_token, config.webhook_token)
        # close the connection pool when the app goes away; the finalizer holds no app
        weakref.finalize(app, transport.close)
        app.cli.add_command(twofactor_cli)
        from .background import init_background

        init_background(app)  # TWOFACTOR_BACKGROUND, when set

    # ------------------------------------------------------------------ sending

    @property
    def transport(self) -> Transport:
        """The current app's transport (for anything the shortcuts below do not cover)."""
        return get_state().transport

    def send_otp(
        self,
        to: str,
        *,
        template: str | None = None,
        otp: str | None = None,
        length: int | None = None,
        include_otp: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> OTPSent:
        """Send an OTP to ``to`` through the current app's transport.

        ``template`` defaults to ``TWOFACTOR_OTP_TEMPLATE``, ``length`` to
        ``TWOFACTOR_OTP_LENGTH``. Keep the returned ``session_id`` to verify the code later.
        """
        state = get_state()
        return state.transport.send_otp(
            to,
            template=template,
            otp=otp,
            length=length if length is not None else state.config.otp_length,
            include_otp=include_otp,
            metadata=metadata,
        )

    def verify_otp(
        self, code: str, *, session_id: str | None = None, phone: str | None = None
    ) -> Verification:
        """Verify ``code`` by ``session_id`` or by ``phone`` (exactly one).

        The result is truthy only when the code matched; ``.outcome`` says why not.
        """
        return self.transport.verify_otp(code, session_id=session_id, phone=phone)

    @overload
    def send_sms(
        self,
        to: str | Iterable[str],
        text: str,
        *,
        sender: str | None = ...,
        promotional: bool = ...,
        schedule_at: datetime | None = ...,
        pe_id: str | None = ...,
        ct_id: str | None = ...,
        campaign_name: str | None = ...,
        campaign_webhook: str | None = ...,
        shorten_urls: bool = ...,
        shorten_url_webhook: str | None = ...,
        shorten_url_callback: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        background: Literal[False] = ...,
        key: None = ...,
    ) -> SMSSent: ...

    @overload
    def send_sms(
        self,
        to: str | Iterable[str],
        text: str,
        *,
        sender: str | None = ...,
        promotional: bool = ...,
        schedule_at: datetime | None = ...,
        pe_id: str | None = ...,
        ct_id: str | None = ...,
        campaign_name: str | None = ...,
        campaign_webhook: str | None = ...,
        shorten_urls: bool = ...,
        shorten_url_webhook: str | None = ...,
        shorten_url_callback: str | None = ...,
        metadata: Mapping[str, Any] | None = ...,
        background: Literal[True],
        key: str | None = ...,
    ) -> Envelope: ...

    def send_sms(
        self,
        to: str | Iterable[str],
        text: str,
        *,
        sender: str | None = None,
        promotional: bool = False,
        schedule_at: datetime | None = None,
        pe_id: str | None = None,
        ct_id: str | None = None,
        campaign_name: str | None = None,
        campaign_webhook: str | None = None,
        shorten_urls: bool = False,
        shorten_url_webhook: str | None = None,
        shorten_url_callback: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        background: bool = False,
        key: str | None = None,
    ) -> SMSSent | Envelope:
        """Send a text message; ``sender`` defaults to ``TWOFACTOR_SENDER_ID``.

        Returns the :class:`SMSSent` receipt. With ``background=True`` the message is checked
        now and queued (``TWOFACTOR_BACKGROUND``); the
        :class:`~twofactor_notify.background.Envelope` is returned instead, ``key`` being its
        idempotency key (generated when ``None``); a key without ``background=True`` is
        refused (:class:`~twofactor_notify.errors.InvalidInputError`).
        """
        if wants_background(background, key):
            from .background import queue_message

            recipients = (to,) if isinstance(to, str) else tuple(to)
            return queue_message(
                SMSMessage(
                    to=recipients,
                    text=text,
                    sender=sender or "",
                    promotional=promotional,
                    schedule_at=schedule_at,
                    pe_id=pe_id,
                    ct_id=ct_id,
                    campaign_name=campaign_name,
                    campaign_webhook=campaign_webhook,
                    shorten_urls=shorten_urls,
                    shorten_url_webhook=shorten_url_webhook,
                    shorten_url_callback=shorten_url_callback,
                    metadata=dict(metadata or {}),
                ),
                key=key,
            )
        return self.transport.send_sms(
            to,
            text,
            sender=sender,
            promotional=promotional,
            schedule_at=schedule_at,
            pe_id=pe_id,
            ct_id=ct_id,
            campaign_name=campaign_name,
            campaign_webhook=campaign_webhook,
            shorten_urls=shorten_urls,
            shorten_url_webhook=shorten_url_webhook,
            shorten_url_callback=shorten_url_callback,
            metadata=metadata,
        )

    @overload
    def send_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = ...,
        background: Literal[False] = ...,
        key: None = ...,
    ) -> BulkResult: ...

    @overload
    def send_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = ...,
        background: Literal[True],
        key: str | None = ...,
    ) -> list[Envelope]: ...

    def send_bulk(
        self,
        messages: Iterable[BulkMessage | Mapping[str, Any]],
        *,
        chunk_size: int = MAX_BULK_CHUNK,
        background: bool = False,
        key: str | None = None,
    ) -> BulkResult | list[Envelope]:
        """Send bulk messages (1000 per request); see :meth:`Transport.send_bulk`.

        Returns the :class:`BulkResult`. With ``background=True`` each request's batch is
        checked now and queued as one envelope; the list of envelopes is returned (keys
        ``key:0``, ``key:1``… when ``key`` is given; only with ``background=True``).
        """
        if wants_background(background, key):
            from twofactor_notify.bulk import background_batches

            from .background import queue_message

            return [
                queue_message(batch, key=batch_key)
                for batch, batch_key in background_batches(messages, chunk_size, key)
            ]
        return self.transport.send_bulk(messages, chunk_size=chunk_size)

    # ------------------------------------------------------------------ testing

    @contextmanager
    def record_messages(self) -> Iterator[list[Message]]:
        """Collect every message the current app sends inside the ``with`` block.

        Like Flask-Mail's ``record_messages``; see
        :func:`flask_twofactor.testing.record_messages`.
        """
        from .testing import record_messages

        with record_messages(current_app._get_current_object()) as outbox:  # type: ignore[attr-defined]
            yield outbox
