"""The delivery and click webhook views (CSRF-exempt POST, shared token).

Order of work for each request: check the token (403), the size (413) and the body (400);
update the message log and store every report (once, by its dedupe key; see
:func:`~django_twofactor.reports.store_delivery_report`); only then fire the core
``on_delivery`` hook, send the Django signal and answer. A receiver or plugin that raises is
logged: the report is already stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
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
from .reports import store_click_report, store_delivery_report
from .signals import click_received, delivery_report_received

__all__ = ["click_webhook", "delivery_webhook"]

logger = logging.getLogger("django_twofactor.webhooks")


def _token(request: HttpRequest) -> str | None:
    return request.GET.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)


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


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def delivery_webhook(request: HttpRequest) -> HttpResponse:
    """Receive delivery reports (JSON object or list, or raw-url-encoded) and store them."""
    try:
        check_token(_token(request), get_settings().webhook_token)
        reports = parse_delivery_reports(_body(request), request.content_type)
    except WebhookError as exc:
        return _error(exc)
    fresh = []
    for report in reports:  # each report stored on its own: one bad row loses no other
        row, created = store_delivery_report(report)
        if created:
            fresh.append((report, row))
    if fresh:
        transport = get_backend().transport
        for report, row in fresh:
            _dispatch(functools.partial(transport.handle_report, report), "on_delivery")
            _send_signal(delivery_report_received, DeliveryReport, report=report, record=row)
    return JsonResponse(
        {"received": len(reports), "stored": len(fresh), "duplicates": len(reports) - len(fresh)}
    )


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def click_webhook(request: HttpRequest) -> HttpResponse:
    """Receive a click on a tracked link (form-encoded or JSON) and store it."""
    try:
        check_token(_token(request), get_settings().webhook_token)
        click = parse_click_report(_body(request), request.content_type)
    except WebhookError as exc:
        return _error(exc)
    row, created = store_click_report(click)
    if created:
        transport = get_backend().transport
        _dispatch(lambda: transport.handle_report(click), "on_delivery")
        _send_signal(click_received, ClickReport, report=click, record=row)
    return JsonResponse({"received": 1, "stored": int(created), "duplicates": int(not created)})
