"""Scrubbers for Sentry's ``before_send``, ``before_send_transaction`` and ``before_breadcrumb``.

2Factor's V1 API carries the API key (and the OTP) in the URL path, and the library puts the
key on the wire at the last layer (:class:`~twofactor_notify.credentials.KeyPlacingAdapter`),
so any instrumentation of ``http.client`` (Sentry's stdlib integration, on by default) sees
the real URL and records it in breadcrumbs and spans. These functions walk an event or a
breadcrumb and pass every string in it through :func:`twofactor_notify.redaction.redact`
(registered keys and webhook tokens in any encoding, ``token=`` query values, OTP path
segments), mask the phone number of V1 paths, and replace the value of any header or field
named like a token or a key::

    import sentry_sdk
    from twofactor_notify import sentry as twofactor_sentry

    sentry_sdk.init(dsn=..., **twofactor_sentry.SENTRY_OPTIONS)

This module does not import ``sentry_sdk``: it works on the plain dictionaries Sentry hands
to its hooks, so the library does not depend on it.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from .redaction import REDACTED, redact

__all__ = [
    "SENTRY_OPTIONS",
    "scrub",
    "scrub_breadcrumb",
    "scrub_event",
]

_T = TypeVar("_T")

# The phone number of a V1 path (/SMS/{phone}/…), by position: a breadcrumb or a span may be
# scrubbed after the request that declared its numbers (hide_request_values) has gone.
_V1_PHONE = re.compile(r"(/SMS/)(?:\+|%2[Bb])?[0-9]{3,11}([0-9]{4})(?=$|[/\s\"?])")

# Names (headers, form fields, variables) whose value is a secret whatever it looks like.
_SECRET_NAMES = frozenset(
    {
        "token",
        "xtwofactortoken",
        "twofactortoken",
        "webhooktoken",
        "secretkey",
        "apikey",
        "otp",
        "authorization",
    }
)


def _is_secret_name(name: str) -> bool:
    return re.sub(r"[^a-z]", "", name.lower()) in _SECRET_NAMES


def _scrub_text(text: str) -> str:
    text = redact(text)
    if "/SMS/" in text:
        text = _V1_PHONE.sub(lambda m: m.group(1) + "*" * 6 + m.group(2), text)
    return text


def scrub(value: _T) -> _T:
    """``value`` with every string in it (nested in dicts, lists and tuples, keys included)
    scrubbed, and the value of any entry named like a token or a key (``X-Twofactor-Token``,
    ``token``, ``Secret-Key``, ``api_key``, ``otp``, ``Authorization``) replaced by
    ``<redacted>``. Dicts and lists are changed in place; the value is returned."""
    return _scrub(value)  # type: ignore[no-any-return]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        for key in list(value):
            item = value.pop(key)
            clean_key = _scrub(key) if isinstance(key, str) else key
            if isinstance(key, str) and _is_secret_name(key) and isinstance(item, (str, bytes)):
                value[clean_key] = REDACTED
            else:
                value[clean_key] = _scrub(item)
        return value
    if isinstance(value, list):
        # Sentry writes headers as [name, value] pairs in some places
        if len(value) == 2 and isinstance(value[0], str) and _is_secret_name(value[0]):
            value[1] = REDACTED
            return value
        for index, item in enumerate(value):
            value[index] = _scrub(item)
        return value
    if isinstance(value, tuple):
        return tuple(_scrub(list(value)))
    return value


def scrub_event(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """For ``before_send`` and ``before_send_transaction``: the event, scrubbed (its
    breadcrumbs, spans, request, exception values, frame variables, everything)."""
    return scrub(event)


def scrub_breadcrumb(crumb: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """For ``before_breadcrumb``: the breadcrumb, scrubbed (its message and data, the URL of
    an HTTP call among them)."""
    return scrub(crumb)


#: The three hooks, to unpack into ``sentry_sdk.init(...)``.
SENTRY_OPTIONS: dict[str, Any] = {
    "before_send": scrub_event,
    "before_send_transaction": scrub_event,
    "before_breadcrumb": scrub_breadcrumb,
}
