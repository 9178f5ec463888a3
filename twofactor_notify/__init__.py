"""twofactor-notify: 2Factor.in SMS OTP and notifications, one transport, many frameworks.

The names most programs need are importable from here::

    from twofactor_notify import TwoFactorClient, TwoFactorTransport, hookimpl
"""

from __future__ import annotations

from .client import DEFAULT_BASE_URL, TwoFactorClient
from .codec import AESCodec, EncryptionCodec
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
    "Transport",
    "TwoFactorClient",
    "TwoFactorError",
    "TwoFactorTransport",
    "Verification",
    "VerificationOutcome",
    "WebhookError",
    "WebhookReceiver",
    "__version__",
    "hookimpl",
    "normalize_phone",
]
