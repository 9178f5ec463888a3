"""twofactor-notify: 2Factor.in SMS OTP and notifications, one transport, many frameworks.

The names most programs need are importable from here::

    from twofactor_notify import TwoFactorClient, TwoFactorTransport, hookimpl
"""

from __future__ import annotations

import importlib

# Not ``typing``'s: importing typing costs more than the rest of this module, and the
# console script imports this package before its entry point can catch a Ctrl-C.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .client import DEFAULT_BASE_URL, TwoFactorClient
    from .codec import AESCodec, EncryptionCodec
    from .config import TransportOptions, build_transport, check_options
    from .errors import (
        APIConnectionError,
        AuthenticationError,
        BulkRequestError,
        ConfigurationError,
        DecryptionError,
        InvalidInputError,
        InvalidPhoneNumberError,
        InvalidResponseError,
        OTPError,
        OutcomeUnknownError,
        RateLimitedError,
        RequestRejectedError,
        RequestTimeoutError,
        SendRefusedError,
        ServerError,
        StoreUnavailableError,
        TwoFactorError,
        WebhookError,
    )
    from .hooks import hookimpl
    from .models import (
        BulkAccepted,
        BulkBatch,
        BulkChunkFailure,
        BulkMessage,
        BulkRejection,
        BulkResult,
        ClickReport,
        DeliveryLookup,
        DeliveryReport,
        DeliveryStatus,
        Message,
        OTPMessage,
        OTPSent,
        Receipt,
        SMSMessage,
        SMSSent,
        Verification,
        VerificationOutcome,
    )
    from .phone import normalize_phone
    from .ratelimit import RateLimiter
    from .transport import (
        ConsoleTransport,
        FileTransport,
        InMemoryTransport,
        NullTransport,
        Transport,
        TwoFactorTransport,
    )
    from .webhooks import WebhookReceiver

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "AESCodec",
    "APIConnectionError",
    "AuthenticationError",
    "BulkAccepted",
    "BulkBatch",
    "BulkChunkFailure",
    "BulkMessage",
    "BulkRejection",
    "BulkRequestError",
    "BulkResult",
    "ClickReport",
    "ConfigurationError",
    "ConsoleTransport",
    "DecryptionError",
    "DeliveryLookup",
    "DeliveryReport",
    "DeliveryStatus",
    "EncryptionCodec",
    "FileTransport",
    "InMemoryTransport",
    "InvalidInputError",
    "InvalidPhoneNumberError",
    "InvalidResponseError",
    "Message",
    "NullTransport",
    "OTPError",
    "OTPMessage",
    "OTPSent",
    "OutcomeUnknownError",
    "RateLimitedError",
    "RateLimiter",
    "Receipt",
    "RequestRejectedError",
    "RequestTimeoutError",
    "SMSMessage",
    "SMSSent",
    "SendRefusedError",
    "ServerError",
    "StoreUnavailableError",
    "Transport",
    "TransportOptions",
    "TwoFactorClient",
    "TwoFactorError",
    "TwoFactorTransport",
    "Verification",
    "VerificationOutcome",
    "WebhookError",
    "WebhookReceiver",
    "__version__",
    "build_transport",
    "check_options",
    "hookimpl",
    "normalize_phone",
]


# Names resolve on first use (PEP 562): importing the package, and with it the pytest plugin
# that every test run of an installing project loads, stays cheap until a name is needed.
_LAZY: dict[str, str] = {
    "AESCodec": "codec",
    "APIConnectionError": "errors",
    "AuthenticationError": "errors",
    "BulkAccepted": "models",
    "BulkBatch": "models",
    "BulkChunkFailure": "models",
    "BulkMessage": "models",
    "BulkRejection": "models",
    "BulkRequestError": "errors",
    "BulkResult": "models",
    "ClickReport": "models",
    "ConfigurationError": "errors",
    "ConsoleTransport": "transport",
    "DEFAULT_BASE_URL": "client",
    "DecryptionError": "errors",
    "DeliveryLookup": "models",
    "DeliveryReport": "models",
    "DeliveryStatus": "models",
    "EncryptionCodec": "codec",
    "FileTransport": "transport",
    "InMemoryTransport": "transport",
    "InvalidInputError": "errors",
    "InvalidPhoneNumberError": "errors",
    "InvalidResponseError": "errors",
    "Message": "models",
    "NullTransport": "transport",
    "OTPError": "errors",
    "OTPMessage": "models",
    "OTPSent": "models",
    "OutcomeUnknownError": "errors",
    "RateLimitedError": "errors",
    "RateLimiter": "ratelimit",
    "Receipt": "models",
    "RequestRejectedError": "errors",
    "RequestTimeoutError": "errors",
    "SMSMessage": "models",
    "SMSSent": "models",
    "SendRefusedError": "errors",
    "ServerError": "errors",
    "StoreUnavailableError": "errors",
    "Transport": "transport",
    "TransportOptions": "config",
    "TwoFactorClient": "client",
    "TwoFactorError": "errors",
    "TwoFactorTransport": "transport",
    "Verification": "models",
    "VerificationOutcome": "models",
    "WebhookError": "errors",
    "WebhookReceiver": "webhooks",
    "build_transport": "config",
    "check_options": "config",
    "hookimpl": "hooks",
    "normalize_phone": "phone",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
