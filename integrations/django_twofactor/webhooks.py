"""The delivery and click webhook views (CSRF-exempt POST, shared token).

Both call the core :func:`~twofactor_notify.webhooks.ingest_reports` with
:func:`hand_over_report` as the hand-over, so they keep its contract: after the token check
a valid report is fully handed over (stored with its message-log update in one unit, then
every ``on_delivery`` plugin and signal receiver called, each on its own, then marked
handed over) and answered 200, or the answer is 503 so that 2Factor retries. A valid
report is never answered 4xx. Only the request that stored the report announces it; a
copy arriving meanwhile is answered 503 and comes back a duplicate. A report stored but
not marked (the process died, the database failed in between) is handed over again by a
copy that comes after its lease ran out; a marked one is a duplicate. Receivers therefore
get each report *at least once*.

Order of work for each request: take the token out of the request (so that it never shows
in an error report), read the settings, check the token (403), the size (413) and the body
(400); then each report. The token, the configured one and the one given, is held in a
:class:`~twofactor_notify.credentials.Secret` in every frame of the views.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal, NamedTuple

from asgiref.sync import async_to_sync
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.db import DatabaseError, connection, transaction
from django.dispatch import Signal
from django.dispatch.dispatcher import NO_RECEIVERS
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from twofactor_notify import models as core
from twofactor_notify.credentials import Secret
from twofactor_notify.errors import WebhookError
from twofactor_notify.redaction import library_logger
from twofactor_notify.webhooks import (
    MAX_WEBHOOK_BYTES,
    TOKEN_PARAM,
    HandOverInProgress,
    IngestResult,
    check_token,
    hide_token,
    hide_token_in_query,
    ingest_reports,
    read_chunked,
    read_limited,
    token_from,
)

from .backends import get_backend
from .conf import get_settings
from .models import ClickReport, DeliveryReport
from .reports import (
    claim_hand_over,
    mark_handed_over,
    release_hand_over,
    store_click_report,
    store_delivery_report,
)
from .signals import click_received, delivery_report_received

__all__ = [
    "WebhookExceptionReporterFilter",
    "click_webhook",
    "delivery_webhook",
    "hand_over_report",
    "send_each",
]

logger = library_logger("django_twofactor.webhooks")


_HIDDEN = SafeExceptionReporterFilter.cleansed_substitute
#: ``request.META`` entries that hold the query string (WSGI; gunicorn; uWSGI).
_URI_META = ("QUERY_STRING", "RAW_URI", "REQUEST_URI")


class WebhookExceptionReporterFilter(SafeExceptionReporterFilter):
    """Keeps the webhook token out of Django's error reports (500 pages, admin e-mails).

    Always active (not only when ``DEBUG`` is false); on top of Django's filtering it hides
    the ``token`` query parameter wherever the request's query string shows up in
    ``request.META``. The views also take the token out of the request (its query string,
    ``request.GET`` and the ``X-TwoFactor-Token`` header) before doing anything else, which
    covers the report's URL, GET and META sections.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        """Always filter: the token is a credential, in development as well."""
        return True

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        """``request.META`` with secrets and the ``token`` query parameter hidden."""
        meta: dict[str, Any] = super().get_safe_request_meta(request)
        for key in _URI_META:
            if isinstance(meta.get(key), str):
                meta[key] = hide_token_in_query(meta[key], _HIDDEN)
        return meta


_FILTER = WebhookExceptionReporterFilter()  # stateless: one for every request


class _GivenTokens(NamedTuple):
    header: Secret | None
    query: Secret | None


def _take_token(request: HttpRequest) -> _GivenTokens:
    """The tokens the request carries, then hidden from the request for the rest of its life.

    The ``X-TwoFactor-Token`` header (matched whatever its case) and ``?token=``, each held
    in a :class:`~twofactor_notify.credentials.Secret`; which one counts is the caller's
    choice (``WEBHOOK_QUERY_TOKEN``). Both are replaced by stars in ``request.META`` (which
    ``get_full_path()``, the request's ``repr``, ``request.headers`` and error reports
    read) and in ``request.GET``, and the request gets
    :class:`WebhookExceptionReporterFilter`. Nothing here reads the settings, so nothing
    can fail before the token is out of the request.
    """
    request.exception_reporter_filter = _FILTER
    given = _GivenTokens(
        Secret.wrap(token_from(request.headers)),
        Secret.wrap(token_from({}, request.GET)),
    )
    hide_token(request.META, _HIDDEN)
    request.__dict__.pop("headers", None)  # cached from META before the header was hidden
    query: Any = request.GET  # a QueryDict, made mutable for one change
    if TOKEN_PARAM in query:
        query._mutable = True  # as Django itself does
        query.setlist(TOKEN_PARAM, [_HIDDEN])
        query._mutable = False
    return given


def _body(request: HttpRequest) -> bytes:
    """The body, refusing (413) before reading one that announces itself too large."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WebhookError("Content-Length is not a number") from None
    if declared > MAX_WEBHOOK_BYTES:
        raise WebhookError(
            f"webhook body is larger than {MAX_WEBHOOK_BYTES} bytes", http_status=413
        )
    if not declared and "chunked" in str(request.META.get("HTTP_TRANSFER_ENCODING", "")).lower():
        # Django reads a body only up to Content-Length, which a chunked request has not
        body = _read_chunked_input(request.META["wsgi.input"])
        if len(body) > MAX_WEBHOOK_BYTES:
            raise WebhookError(
                f"webhook body is larger than {MAX_WEBHOOK_BYTES} bytes", http_status=413
            )
        return body
    try:
        return request.body
    except RequestDataTooBig:
        raise WebhookError("webhook body is too large", http_status=413) from None


def _read_chunked_input(stream: Any) -> bytes:
    """A chunked body from ``wsgi.input``: de-chunked already by a server such as gunicorn;
    under ``runserver`` (wsgiref) a ``LimitedStream`` of 0 bytes over the raw connection,
    whose chunks are decoded here."""
    if isinstance(stream, LimitedStream):
        raw = getattr(getattr(stream, "_read", None), "__self__", None)
        if raw is None:
            return b""
        return read_chunked(raw)
    return read_limited(stream)


def _error(exc: WebhookError) -> JsonResponse:
    # The message names what was wrong (never a token or a body): safe to return.
    return JsonResponse({"error": exc.message}, status=exc.http_status)


def send_each(signal: Signal, sender: object, **kwargs: Any) -> int:
    """Send a Django signal, calling each receiver on its own; returns how many raised.

    Unlike ``Signal.send_robust`` (which logs the exception's message and traceback on
    ``django.dispatch``), a receiver that raises is logged here by receiver name and
    exception type only: its message may quote a phone number or a report.
    """
    if not signal.receivers or signal.sender_receivers_cache.get(sender) is NO_RECEIVERS:
        return 0
    sync_receivers, async_receivers = signal._live_receivers(sender)
    calls = [*sync_receivers, *(async_to_sync(r) for r in async_receivers)]
    failures = 0
    for receiver in calls:
        try:
            receiver(signal=signal, sender=sender, **kwargs)
        except Exception as exc:
            failures += 1
            logger.error(
                "%s receiver %s raised %s",
                getattr(sender, "__name__", type(sender).__name__),
                getattr(receiver, "__qualname__", type(receiver).__qualname__),
                type(exc).__name__,
            )
    return failures


def hand_over_report(report: core.DeliveryReport | core.ClickReport) -> bool:
    """Hand one report over: store it, call every plugin and receiver, mark it handed over.

    Returns ``False`` for a report handed over before (a duplicate: nothing is called
    again), ``True`` when this request handed it over now. Exactly one request announces a
    report: the one whose INSERT stored it, or, for a report stored by a hand-over that did
    not finish (the process died, the database failed before the mark), the one that took
    its lease over once it had run out (:func:`~django_twofactor.reports.claim_hand_over`,
    one UPDATE). A copy arriving while another request holds the lease raises
    :class:`~twofactor_notify.webhooks.HandOverInProgress` (503: 2Factor retries later).
    Raises as well when the report could not be stored or marked: the webhook answers 503
    and 2Factor's retry comes back here. Plugins (``on_delivery``) and receivers
    (:data:`~django_twofactor.signals.delivery_report_received`,
    :data:`~django_twofactor.signals.click_received`) are called each on its own; one that
    raises is logged (its type only) and stops nothing.
    """
    row: DeliveryReport | ClickReport
    sender: type[DeliveryReport] | type[ClickReport]
    if isinstance(report, core.ClickReport):
        row, created = store_click_report(report)
        signal, sender = click_received, ClickReport
    else:
        row, created = store_delivery_report(report)
        signal, sender = delivery_report_received, DeliveryReport
    if not created:
        if row.handed_over:
            return False
        if not claim_hand_over(row):
            if type(row)._default_manager.filter(pk=row.pk, handed_over=True).exists():
                return False  # the holder finished while we looked
            raise HandOverInProgress("a copy of this report is being handed over")
    get_backend().transport.handle_report(report)
    send_each(signal, sender, report=report, record=row)
    try:
        mark_handed_over(row)
    except DatabaseError:
        # Everything was called, but without the mark the report is not handed over for
        # good: answer 503 so that 2Factor retries (its retry announces it again, then
        # marks it), and let the retry take the hand-over at once.
        _give_up(row)
        raise
    return True


def _give_up(row: DeliveryReport | ClickReport) -> None:
    """Release the lease of a hand-over that failed, on a new connection if this one broke
    (a killed connection stays unusable until closed): 2Factor's retry may then take it at
    once. Best effort: if the database is still failing, the lease simply runs out."""
    try:
        release_hand_over(row)
    except DatabaseError:
        if connection.in_atomic_block:
            return
        with contextlib.suppress(DatabaseError):
            connection.close()
            release_hand_over(row)


def _answer(result: IngestResult) -> JsonResponse:
    if result.status in (400, 403, 413):
        return JsonResponse({"error": result.error}, status=result.status)
    body: dict[str, Any] = {
        "received": result.received,
        "stored": result.new,
        "duplicates": result.duplicates,
    }
    if result.refused:  # invalid reports of a list, skipped beside the valid ones
        body["refused"] = result.refused
    if not result.ok:
        body.update(failed=result.failed, error=result.error)
    return JsonResponse(body, status=result.status)


def _ingest(request: HttpRequest, kind: Literal["delivery", "click"]) -> HttpResponse:
    given = _take_token(request)  # first of all: no error below finds it in the request
    config = get_settings()  # reading the settings hid the token from the logs
    token = given.header or (given.query if config.webhook_query_token else None)
    del given
    try:
        check_token(token, config.webhook_token)  # before reading a body from a stranger
        body = _body(request)
    except WebhookError as exc:
        return _error(exc)
    result = ingest_reports(
        kind,
        body,
        request.content_type,
        token=token,
        expected_token=config.webhook_token,
        hand_over=hand_over_report,
    )
    del token
    return _answer(result)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
@sensitive_variables("token")
def delivery_webhook(request: HttpRequest) -> HttpResponse:
    """Receive delivery reports (JSON object or list, or raw-url-encoded) and store them."""
    return _ingest(request, "delivery")


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
@sensitive_variables("token")
def click_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a click on a tracked link (form-encoded or JSON) and store it."""
    return _ingest(request, "click")
