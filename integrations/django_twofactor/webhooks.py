"""The delivery and click webhook views (CSRF-exempt POST, shared token).

Order of work for each request: take the token out of the request (so that it never shows
in an error report), check it (403), the size (413) and the body (400); store every report
on its own (once, by its dedupe key, then move the message log on; see
:func:`~django_twofactor.reports.store_delivery_report`); only then fire the core
``on_delivery`` hook, send the Django signal and answer. A receiver or plugin that raises is
logged: the report is already stored.

Answers to a delivery batch: 200 when every report was stored or was a duplicate, or when
some were and others had values the database cannot store (those are logged and counted as
``refused``; retrying would not help); 400 when *no* report could be stored because of its
values (2Factor retries on non-2xx, and a permanently bad report must not be retried for
ever); 503 when a report was lost to another database error (the database may be down:
2Factor's retry then stores it, and the others come back as duplicates).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from twofactor_notify.errors import WebhookError
from twofactor_notify.webhooks import (
    MAX_WEBHOOK_BYTES,
    TOKEN_HEADER,
    TOKEN_PARAM,
    check_token,
    parse_click_report,
    parse_delivery_reports,
)

from .backends import get_backend
from .conf import get_settings
from .models import ClickReport, DeliveryReport
from .reports import store_click_report, store_delivery_reports
from .signals import click_received, delivery_report_received

__all__ = ["WebhookExceptionReporterFilter", "click_webhook", "delivery_webhook"]

logger = logging.getLogger("django_twofactor.webhooks")


_HIDDEN = SafeExceptionReporterFilter.cleansed_substitute
#: ``request.META`` entries that hold the query string (WSGI; gunicorn; uWSGI).
_URI_META = ("QUERY_STRING", "RAW_URI", "REQUEST_URI")


def _hide_token_in(text: str) -> str:
    """``text`` (a query string, or a URI with one) with every ``token`` value hidden."""
    path, mark, query = text.rpartition("?") if "?" in text else ("", "", text)
    if TOKEN_PARAM not in query and "%" not in query:
        return text
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name == TOKEN_PARAM for name, _ in pairs):
        return text
    hidden = [(name, _HIDDEN if name == TOKEN_PARAM else value) for name, value in pairs]
    return f"{path}{mark}{urlencode(hidden)}"


class WebhookExceptionReporterFilter(SafeExceptionReporterFilter):
    """Keeps the webhook token out of Django's error reports (500 pages, admin e-mails).

    Always active (not only when ``DEBUG`` is false); on top of Django's filtering it hides
    the ``token`` query parameter wherever the request's query string shows up in
    ``request.META``. The views also take the token out of ``request.GET`` and the query
    string before doing anything else, which covers the report's URL and GET sections.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        """Always filter: the token is a credential, in development as well."""
        return True

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        """``request.META`` with secrets and the ``token`` query parameter hidden."""
        meta: dict[str, Any] = super().get_safe_request_meta(request)
        for key in _URI_META:
            if isinstance(meta.get(key), str):
                meta[key] = _hide_token_in(meta[key])
        return meta


_FILTER = WebhookExceptionReporterFilter()  # stateless: one for every request
_TOKEN_IN_QUERY = re.compile(rf"(?:(?<=&)|^){TOKEN_PARAM}=[^&]*")
_TOKEN_HIDDEN = f"{TOKEN_PARAM}={_HIDDEN}"


@sensitive_variables("token")
def _take_token(request: HttpRequest) -> str | None:
    """The token the request carries, then hidden from the request for the rest of its life.

    ``?token=`` is replaced by stars in ``request.GET`` and in the query string entries of
    ``request.META`` (which ``get_full_path()``, the request's ``repr`` and error reports
    read), and the request gets :class:`WebhookExceptionReporterFilter`.
    """
    request.exception_reporter_filter = _FILTER
    token = request.GET.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)
    query = request.GET
    if TOKEN_PARAM in query:
        meta = request.META
        raw = str(meta.get("QUERY_STRING", ""))
        # the plain spelling cheaply; a percent-encoded one (name or value) the slow way
        if "%" in raw:
            meta["QUERY_STRING"] = _hide_token_in(raw)
        else:
            meta["QUERY_STRING"] = _TOKEN_IN_QUERY.sub(_TOKEN_HIDDEN, raw)
        query._mutable = True  # type: ignore[assignment]  # as Django itself does
        query.setlist(TOKEN_PARAM, [_HIDDEN])
        query._mutable = False
        for key in _URI_META[1:]:
            if isinstance(meta.get(key), str):
                meta[key] = _hide_token_in(meta[key])
    return token


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
    try:
        return request.body
    except RequestDataTooBig:
        raise WebhookError("webhook body is too large", http_status=413) from None


def _error(exc: WebhookError) -> JsonResponse:
    # The message names what was wrong (never a token or a body): safe to return.
    return JsonResponse({"error": exc.message}, status=exc.http_status)


def _dispatch(fire: Callable[[], Any], what: str) -> None:
    try:
        fire()
    except Exception as exc:  # the report is stored; a receiver's failure is only logged
        logger.error("%s receiver raised %s", what, type(exc).__name__)


def _send_signal(signal: Any, sender: type, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "%s receiver %s raised %s",
                sender.__name__,
                getattr(receiver, "__qualname__", receiver),
                type(result).__name__,
            )


def _announce(report: Any, row: Any, signal: Any, sender: type) -> None:
    """A stored, new report: fire ``on_delivery``, then the Django signal; neither may raise."""
    transport = get_backend().transport
    _dispatch(functools.partial(transport.handle_report, report), "on_delivery")
    _send_signal(signal, sender, report=report, record=row)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
@sensitive_variables("token")
def delivery_webhook(request: HttpRequest) -> HttpResponse:
    """Receive delivery reports (JSON object or list, or raw-url-encoded) and store them."""
    token = _take_token(request)
    try:
        check_token(token, get_settings().webhook_token)
        reports = parse_delivery_reports(_body(request), request.content_type)
    except WebhookError as exc:
        return _error(exc)
    del token
    result = store_delivery_reports(reports)  # each on its own: one bad report loses no other
    for report, row in result.fresh:
        _announce(report, row, delivery_report_received, DeliveryReport)
    body: dict[str, Any] = {
        "received": len(reports),
        "stored": len(result.fresh),
        "duplicates": result.duplicates,
    }
    if result.refused or result.failed:
        body.update(refused=result.refused, failed=result.failed)
    if result.failed:
        body["error"] = "some reports could not be stored; please retry"
        return JsonResponse(body, status=503)
    if result.refused and not (result.fresh or result.duplicates):
        body["error"] = "no report could be stored: values out of range"
        return JsonResponse(body, status=400)
    return JsonResponse(body)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
@sensitive_variables("token")
def click_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a click on a tracked link (form-encoded or JSON) and store it."""
    token = _take_token(request)
    try:
        check_token(token, get_settings().webhook_token)
        click = parse_click_report(_body(request), request.content_type)
    except WebhookError as exc:
        return _error(exc)
    del token
    row, created = store_click_report(click)
    if created:
        _announce(click, row, click_received, ClickReport)
    return JsonResponse({"received": 1, "stored": int(created), "duplicates": int(not created)})
