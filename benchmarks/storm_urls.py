"""URLconf of the storm: the app's webhooks, and a one-INSERT view written by hand."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from django_twofactor.models import DeliveryReport

from .storm_wsgi import TOKEN, record

_IST = timezone(timedelta(hours=5, minutes=30))


def _when(text: str) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=_IST) if text else None


@csrf_exempt
def baseline_delivery(request: HttpRequest) -> HttpResponse:
    """The least a delivery webhook does: check the token, parse, one INSERT, answer."""
    if request.GET.get("token") != TOKEN:
        return JsonResponse({"error": "token"}, status=403)
    data = json.loads(request.body)
    to = "+91" + data["SmsTo"]
    key = f"{data['SessionId']}:{to}:{data['SmsStatus']}"
    DeliveryReport.objects.create(
        dedupe_key=hashlib.sha256(key.encode()).hexdigest(),
        message_id=data["SessionId"],
        recipient=to,
        sender=data["SmsFrom"],
        status=data["SmsStatus"],
        raw_status=data["SmsStatus"],
        sent_at=_when(data["SentAt"]),
        status_at=_when(data["StatusAt"]),
        callback_value1=data.get("callback_value1", ""),
        callback_value2=data.get("callback_value2", ""),
    )
    record(key)
    return JsonResponse({"received": 1, "stored": 1, "duplicates": 0})


urlpatterns = [
    path("twofactor/", include("django_twofactor.urls")),
    path("baseline/delivery/", baseline_delivery),
]
