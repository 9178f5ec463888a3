"""The base SMS backend: a small class around one core transport.

Shaped like ``django.core.mail.backends.base.BaseEmailBackend``: a backend is built from
settings, and :meth:`BaseSMSBackend.send_messages` sends core messages
(:class:`~twofactor_notify.models.OTPMessage`, :class:`~twofactor_notify.models.SMSMessage`,
:class:`~twofactor_notify.models.BulkBatch`) and returns how many went. Every send goes
through :attr:`BaseSMSBackend.transport`, so the core hooks fire for every backend alike.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from twofactor_notify.boundary import ErrorBoundary
from twofactor_notify.config import Backend, build_transport
from twofactor_notify.errors import ConfigurationError, InvalidInputError, TwoFactorError
from twofactor_notify.models import BulkBatch, BulkResult, Message, OTPMessage, SMSMessage
from twofactor_notify.redaction import library_logger
from twofactor_notify.transport import Transport

from ..conf import TwoFactorSettings, get_settings, option_key_name

__all__ = ["BaseSMSBackend"]

logger = library_logger("django_twofactor.backends")
_MESSAGE_TYPES = (OTPMessage, SMSMessage, BulkBatch)
_NOT_A_LIST = (str, bytes, Mapping, *_MESSAGE_TYPES)

#: The plugin that fills the message log (registered unless ``LOG_MESSAGES`` is false).
MESSAGE_LOG_PLUGIN = "django_twofactor.plugin.MessageLogPlugin"


class BaseSMSBackend(ErrorBoundary, ABC):
    """Base class of the SMS backends.

    Every public method is an error boundary
    (:class:`~twofactor_notify.boundary.ErrorBoundary`): the texts and codes of the messages
    sent stay in the caller's frame only.

    :param fail_silently: log send errors instead of raising them from :meth:`send_messages`.
    :param config: the settings to build from (default: ``settings.TWOFACTOR_NOTIFY``).
    :param transport: use this transport instead of building one (mostly for tests).
    """

    def __init__(
        self,
        *,
        fail_silently: bool = False,
        config: TwoFactorSettings | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.fail_silently = fail_silently
        self.config = config or get_settings()
        self.transport: Transport = transport or self.build_transport(**self.transport_options())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(transport={self.transport!r})"

    def transport_options(self) -> dict[str, Any]:
        """Keyword arguments every core transport takes, from the settings."""
        plugins: list[object] = list(self.config.plugins)
        if self.config.log_messages:
            plugins.append(MESSAGE_LOG_PLUGIN)
        return {
            "plugins": plugins,
            "load_entrypoints": self.config.load_entrypoints,
            "default_sender": self.config.sender_id,
            "default_template": self.config.otp_template,
            "region": self.config.region,
        }

    @abstractmethod
    def build_transport(self, **options: Any) -> Transport:
        """Create this backend's transport from :meth:`transport_options`.

        The built-in backends call :meth:`build_core_transport`; a backend of a project's
        own may build any :class:`~twofactor_notify.transport.Transport` from ``options``.
        """

    def build_core_transport(
        self,
        backend: Backend,
        *,
        transport_class: type[Transport] | None = None,
        **transport_kwargs: Any,
    ) -> Transport:
        """The core builder's ``backend`` transport (:func:`twofactor_notify.build_transport`)
        over the checked settings, with the message-log plugin when ``LOG_MESSAGES``."""
        options = self.config.transport
        plugins = self.transport_options()["plugins"]
        return build_transport(
            dataclasses.replace(options, backend=backend, plugins=tuple(plugins)),
            key_name=option_key_name,
            transport_class=transport_class,
            **transport_kwargs,
        )

    def send_messages(self, messages: Iterable[Message]) -> int:
        """Send each message through the transport; return how many were accepted.

        A bulk batch counts its accepted messages. With ``fail_silently`` a failed send is
        logged (error type only) and skipped; otherwise the error propagates. A
        :class:`~twofactor_notify.errors.ConfigurationError` is not a failed send: it always
        propagates.
        """
        if isinstance(messages, _NOT_A_LIST) or not isinstance(messages, Iterable):
            raise InvalidInputError(
                f"send_messages takes an iterable of messages, not {type(messages).__name__}",
                field="messages",
            )
        if isinstance(messages, Sequence):  # known in full: refuse a wrong item before sending
            for index, item in enumerate(messages):
                if not isinstance(item, _MESSAGE_TYPES):
                    raise InvalidInputError(
                        f"message {index} is a {type(item).__name__}; give OTPMessage, "
                        "SMSMessage or BulkBatch objects",
                        field="messages",
                    )
        sent = 0
        for message in messages:
            try:
                receipt = self.transport.send(message)
            except ConfigurationError:
                raise
            except TwoFactorError as exc:
                if not self.fail_silently:
                    raise
                logger.warning("SMS send failed: %s", type(exc).__name__)
                continue
            sent += len(receipt.accepted) if isinstance(receipt, BulkResult) else 1
        return sent

    def close(self) -> None:
        """Release the transport's resources."""
        self.transport.close()
