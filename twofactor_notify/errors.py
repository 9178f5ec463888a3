"""The exception tree: one base error, and subclasses a caller can act on.

Every error carries what 2Factor said (``details``), the HTTP status when there was a
response, and a redacted description of the request (``request``: method and path with the
API key replaced). None of them ever holds the API key, the secret key or an OTP value in its
text, ``repr`` or attributes, and its texts are each one line: a line break or other control
character that came in an answer is kept as its escape (:func:`one_line`).
"""

from __future__ import annotations

import re
from typing import Any, overload

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BulkRequestError",
    "ConfigurationError",
    "DecryptionError",
    "InvalidInputError",
    "InvalidPhoneNumberError",
    "InvalidResponseError",
    "OTPError",
    "OutcomeUnknownError",
    "QueueUnavailableError",
    "RateLimitedError",
    "RequestRejectedError",
    "RequestTimeoutError",
    "SendRefusedError",
    "ServerError",
    "StoreUnavailableError",
    "TwoFactorError",
    "WebhookError",
    "one_line",
]

# What str.splitlines() breaks on (\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029), the
# other C0/C1 controls (an escape sequence rewrites a terminal) and the bidirectional
# overrides and isolates (they reorder what a reader sees).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@overload
def one_line(text: str) -> str: ...
@overload
def one_line(text: None) -> None: ...
def one_line(text: str | None) -> str | None:
    r"""``text`` with every line break and other control character written as its escape.

    ``"a\nb\x1b[2J"`` becomes ``"a\\nb\\x1b[2J"`` (a backslash and letters,
    not the characters), so an error's text, whatever a server answered, is one line.
    ``None`` stays ``None``.
    """
    if text is None:
        return None
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class _OneLine:
    """A text attribute kept on one line (:func:`one_line`) however it is set."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, instance: None, owner: type) -> _OneLine: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Any: ...
    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.slot)

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__[self.slot] = one_line(value) if isinstance(value, str) else value


class TwoFactorError(Exception):
    """Base class of every error this library raises.

    :param message: a human-readable sentence; never contains a secret.
    :param status: the HTTP status of 2Factor's answer, when one came.
    :param details: 2Factor's ``Details`` (or bulk ``error``) string, when one came.
    :param request: the redacted request, e.g. ``"GET /API/V1/<redacted>/SMS/VERIFY/…"``.
    :param request_id: 2Factor's ``requestId`` (bulk endpoint) when one came.
    :param body: the parsed JSON body of the answer, when there was one (already free of
        secrets: 2Factor does not echo keys).

    Two attributes help a caller decide what to do next:

    * ``outcome_unknown``: true when the call changed (or may have changed) state at 2Factor
      before it failed: a send or verification whose answer was lost, cut short, unreadable,
      or a gateway error (HTTP 500/502/504) after it went out. Do not resend such a message
      blindly. Always true for :class:`OutcomeUnknownError`.
    * ``partial_result``: for ``send_bulk``, the merged result of the chunks that went
      through before this error stopped the send (``None`` otherwise).
    """

    # Texts that may hold a server's words: each is kept on one line (see one_line).
    message = _OneLine()
    details = _OneLine()
    request = _OneLine()
    request_id = _OneLine()

    #: True when the failed call may have taken effect at 2Factor (see above).
    outcome_unknown: bool = False
    #: For a bulk send stopped by this error: what the earlier chunks achieved.
    partial_result: Any = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details: str | None = None,
        request: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(one_line(message))
        self.message = message
        self.status = status
        self.details = details
        self.request = request
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request:
            parts.append(self.request)
        return " | ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
            f"details={self.details!r}, request={self.request!r})"
        )


class ConfigurationError(TwoFactorError):
    """The library was configured wrongly (missing API key, malformed setting, bad plugin).

    ``key`` names the setting to fix, as the caller spelled it (``"TWOFACTOR_TIMEOUT"``,
    ``"TWOFACTOR_NOTIFY['OTP_LENGTH']"``), when one setting is to blame. A configuration
    error is not a send failure: the framework helpers' ``fail_silently`` never hides it.
    """

    def __init__(self, message: str, *, key: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.key = key


class InvalidInputError(TwoFactorError, ValueError):
    """An argument was refused before any request was made, or 2Factor refused a field.

    ``field`` names the offending argument (``"phone"``, ``"otp"``, ``"sender"``…).
    """

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, field={self.field!r}, status={self.status!r})"
        )


class InvalidPhoneNumberError(InvalidInputError):
    """A phone number could not be parsed, is not valid, or its country is not allowed."""


class OTPError(InvalidInputError):
    """An OTP value was refused: wrong length, not digits (``Invalid OTP Code``…)."""


class AuthenticationError(TwoFactorError):
    """2Factor refused the API key (``Invalid API Key``) or the secret key."""


class RequestRejectedError(TwoFactorError):
    """2Factor refused the request for a reason without a more specific class.

    ``details`` holds 2Factor's words (for R1 sends the reference documents only a generic
    ``{"Status": "Error", "Details": …}``).
    """


class RateLimitedError(TwoFactorError):
    """2Factor (or the client-side limiter) refused the call for rate reasons (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(TwoFactorError):
    """2Factor answered with a 5xx status."""


class InvalidResponseError(TwoFactorError):
    """The answer was not the JSON 2Factor sends: an HTML page, truncated JSON, a wrong shape."""


class DecryptionError(InvalidResponseError):
    """An encrypted answer (``module=ENC``) could not be decrypted with the configured codec."""


class APIConnectionError(TwoFactorError):
    """No connection could be made, so the request was never sent. Safe to retry."""


class RequestTimeoutError(TwoFactorError):
    """A call timed out.

    For lookups and verifications this is final. For a send, see :class:`OutcomeUnknownError`.
    """


class OutcomeUnknownError(RequestTimeoutError):
    """A call that changes state was transmitted but its answer was lost or unreadable.

    For a send, 2Factor may have accepted it: it is never retried automatically, because a
    retry could deliver the SMS twice. Check delivery reports before sending again. For a
    verification, the OTP may have been used up by the request whose answer was lost.
    """

    outcome_unknown = True


class SendRefusedError(TwoFactorError):
    """A ``before_send`` plugin (for example the send guard) refused the message."""

    def __init__(self, message: str, *, reason: str = "refused", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class StoreUnavailableError(SendRefusedError):
    """A shared store a send depends on (the send guard's Redis counters) could not be used.

    The send fails closed: the guard refuses (``reason="store_unavailable"``) and nothing is
    sent. The store's own error (its text may name the server) is not chained.
    """

    def __init__(self, message: str, *, reason: str = "store_unavailable", **kwargs: Any) -> None:
        super().__init__(message, reason=reason, **kwargs)


class QueueUnavailableError(TwoFactorError):
    """The task queue (the broker, or the task backend) did not take a background message:
    nothing was queued, so nothing was sent.

    Raised where a message is handed to the queue: at once by the Flask extension's
    ``background=True``; in the Django app only for a message the outbox could not keep (an
    OTP with your own code), the others waiting in the outbox for the re-publisher. The
    queue's own error (its text may name the server) is not chained; ``reason`` is its class
    name.
    """

    def __init__(self, message: str, *, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class BulkRequestError(TwoFactorError):
    """The bulk endpoint refused a whole request (``success: false``)."""

    error_type = _OneLine()  # the endpoint's own word for the error

    def __init__(self, message: str, *, error_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_type = error_type


class WebhookError(TwoFactorError):
    """An incoming webhook could not be accepted (bad token, too large, malformed body)."""

    def __init__(self, message: str, *, http_status: int = 400, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: the HTTP status a view should answer with (400 malformed, 403 token, 413 size)
        self.http_status = http_status
