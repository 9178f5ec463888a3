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

The Django app, the Flask extension and the django-otp device call :func:`install` when
they start, so an application that calls ``sentry_sdk.init()`` with its own options, before
or after them, is scrubbed all the same.

Importing this module does not import ``sentry_sdk``: the hooks work on the plain
dictionaries Sentry hands them, and :func:`install` imports it only if it is installed.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from .redaction import REDACTED, _secret_value, install_log_filter, redact

__all__ = [
    "SENTRY_OPTIONS",
    "install",
    "scrub",
    "scrub_breadcrumb",
    "scrub_event",
]

_T = TypeVar("_T")

# The phone number of a V1 path (/SMS/{phone}/…), by position: a breadcrumb or a span may be
# scrubbed after the request that declared its numbers (hide_request_values) has gone.
_V1_PHONE = re.compile(r"(/SMS/(?:VERIFY3/)?)(?:\+|%2[Bb])?[0-9]{3,11}([0-9]{4})(?=$|[/\s\"?])")

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


# A query parameter (or form field in a URL-encoded body, or ``name=value`` in a repr) named
# like a secret, and its value: quoted (``api_key='…'``), an authorization scheme with its
# credentials (``authorization=Bearer …``), or bare up to the next separator: an
# application's own ``?otp=``, ``api_key=``. (``token=`` is already
# :func:`~twofactor_notify.redaction.redact`'s.)
_SECRET_PARAMETER = re.compile(
    r"(?<![A-Za-z0-9_])((?:otp|api[_-]?key|secret[_-]?key|x[_-]?two[_-]?factor[_-]?token"
    r"|two[_-]?factor[_-]?token|webhook[_-]?token|authorization)=)"
    + _secret_value(r"[^&\s\"'#<>;]*"),
    re.IGNORECASE,
)


def _is_secret_name(name: str) -> bool:
    return re.sub(r"[^a-z]", "", name.lower()) in _SECRET_NAMES


def _scrub_text(text: str) -> str:
    text = redact(text)
    if "=" in text:
        text = _SECRET_PARAMETER.sub(lambda m: m.group(1) + REDACTED, text)
    if "/SMS/" in text:
        text = _V1_PHONE.sub(lambda m: m.group(1) + "*" * 6 + m.group(2), text)
    return text


def scrub(value: _T) -> _T:
    """``value`` with every string in it (nested in dicts, lists and tuples, keys included)
    scrubbed, and the value of any entry named like a token or a key (``X-Twofactor-Token``,
    ``token``, ``Secret-Key``, ``api_key``, ``otp``, ``Authorization``) replaced by
    ``<redacted>`` whatever it is (a string, a number, a list), in a mapping as in a query
    string (``?otp=…``) within a string. Dicts and lists are changed in place; the value is
    returned."""
    return _scrub(value)  # type: ignore[no-any-return]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        for key in list(value):
            item = value.pop(key)
            clean_key = _scrub(key) if isinstance(key, str) else key
            if isinstance(key, str) and _is_secret_name(key) and item is not None:
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


# --------------------------------------------------------------------------- install()

_SCRUBBERS: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "before_send": scrub_event,
    "before_send_transaction": scrub_event,
    "before_breadcrumb": scrub_breadcrumb,
}
_MARK = "_twofactor_notify_scrubs"
_lock = threading.Lock()


def _scrubbing_first(
    scrubber: Callable[[dict[str, Any], Any], dict[str, Any]], user_hook: Any
) -> Callable[[dict[str, Any], Any], Any]:
    """A hook that scrubs, then hands the scrubbed item to the user's own hook (if any), so
    that hook keeps its say (it may still change or drop the item) and never sees a key."""

    def hook(item: dict[str, Any], hint: Any) -> Any:
        item = scrubber(item, hint)
        return item if user_hook is None else user_hook(item, hint)

    setattr(hook, _MARK, True)
    hook.__wrapped__ = user_hook  # type: ignore[attr-defined]
    return hook


def _scrub_hooks_of(options: MutableMapping[str, Any]) -> None:
    with _lock:
        for name, scrubber in _SCRUBBERS.items():
            current = options.get(name)
            if current is scrubber or getattr(current, _MARK, False):
                continue  # SENTRY_OPTIONS given to init(), or already done
            options[name] = _scrubbing_first(scrubber, current)


def _scrub_active_client() -> None:
    import sentry_sdk

    client = sentry_sdk.get_client()
    if client.is_active():  # never the inactive client's options: they may be shared
        _scrub_hooks_of(client.options)


def _on_every_event(event: Any, hint: Any) -> Any:
    """Sentry's first event processor: makes sure the client about to send ``event`` (one
    made by a ``sentry_sdk.init()`` after :func:`install`) scrubs it. It runs before the
    integrations' processors add the request, so the scrubbing itself is left to the
    client's ``before_send``, which runs after them all."""
    _scrub_active_client()
    return event


def install() -> bool:
    """Scrub everything Sentry sends from this process, whatever ``sentry_sdk.init()`` was
    given, before or after this call. Returns ``False`` if sentry-sdk is not installed.

    The ``before_send``, ``before_send_transaction`` and ``before_breadcrumb`` of the
    active Sentry client become hooks that scrub first (:func:`scrub_event`,
    :func:`scrub_breadcrumb`), then call the hook the application gave, if any, with the
    scrubbed item: its own hooks are kept, not replaced. A global event processor does the
    same for a client made later, before its first event. Calling it again changes
    nothing.

    It also installs :class:`~twofactor_notify.redaction.RedactingFilter` on Sentry's own
    loggers (``sentry_sdk.errors``, where ``debug=True`` logs each outgoing request's URL),
    as on every logger :func:`~twofactor_notify.redaction.install_log_filter` covers.
    """
    if importlib.util.find_spec("sentry_sdk") is None:
        return False
    install_log_filter()
    import sentry_sdk.scope

    with _lock:
        if _on_every_event not in sentry_sdk.scope.global_event_processors:
            sentry_sdk.scope.add_global_event_processor(_on_every_event)
    _scrub_active_client()
    return True
