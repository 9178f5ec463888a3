"""``POST /API/R1/Bulk/``: up to 1000 messages in one JSON request.

Request-level problems (a media type other than ``application/json``, unparsable JSON, bad
key, wrong module, a missing/empty/oversized ``messages`` array) answer the reference's
``ValidationError`` body with HTTP 400. Problems of one message reject that message only,
listed in ``rejectedSamples`` with its 0-based ``index``; the others are accepted. The
``n``-th *accepted* message gets the id ``{requestId}-{n}``: ids count accepted messages,
as in the reference's example (indexes 0, 2 and 4 rejected, the two accepted are ``-1``
and ``-2``).

Kept to one cheap pass per message: the benchmark pushes 100,000 messages through it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from twofactor_notify.validation import MAX_BULK_CHUNK, MAX_TEXT_LENGTH

from ..clock import iso_utc
from ..context import Context
from ..ids import new_uuid
from ..numbers import bulk_rejection
from ..state import MessageRecord
from ..wire import Request, Response, json_response

__all__ = ["CHUNK_SIZE", "INVALID_KEY", "REASONS", "handle", "validation_error"]

#: Accepted messages per reported queue chunk (``queueStats``).
CHUNK_SIZE = 100
INVALID_KEY = "Invalid API Key Or TRANSACTIONAL_SMS Service Is Inactive"
#: Per-message rejection reasons beyond the reference's two phone-number reasons.
REASONS = {
    "not_object": "Message must be a JSON object",
    "to_missing": "smsTo is required",
    "from_missing": "smsFrom is required",
    "from_long": "smsFrom must not exceed 6 characters",
    "text_missing": "smsText is required",
    "text_long": f"smsText must not exceed {MAX_TEXT_LENGTH} characters",
    "format": 'callback_format must be "json" or "raw-url-encoded"',
}
_FORMATS = (None, "json", "raw-url-encoded")


def validation_error(request_id: str, details: list[dict[str, str]], status: int = 400) -> Response:
    """The reference's error body: ``success: false``, ``errorType: ValidationError``."""
    return json_response(
        status,
        {
            "success": False,
            "requestId": request_id,
            "error": "Validation failed",
            "errorType": "ValidationError",
            "details": details,
            "timestamp": iso_utc(),
        },
    )


def handle(request: Request, ctx: Context) -> Response:
    """Answer one bulk request."""
    started = time.perf_counter()
    request_id = new_uuid()
    if request.method != "POST":
        return validation_error(
            request_id, [{"error": f"HTTP {request.method} is not supported on this endpoint"}], 405
        )
    media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return validation_error(
            request_id,
            [
                {
                    "error": "Failed to parse request body as JSON",
                    "details": "Content-Type must be application/json",
                }
            ],
        )
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return validation_error(
            request_id, [{"error": "Failed to parse request body as JSON", "details": str(exc)}]
        )
    if not isinstance(data, dict):
        return validation_error(request_id, [{"error": "Request body must be a JSON object"}])
    problems: list[dict[str, str]] = []
    if data.get("module") != "TRANS_SMS":
        problems.append({"field": "module", "error": 'module must be "TRANS_SMS"'})
    api_key = data.get("apikey")
    account = ctx.state.account(api_key) if isinstance(api_key, str) else None
    if account is None:
        problems.append({"field": "apikey", "error": INVALID_KEY})
    messages = data.get("messages")
    if not isinstance(messages, list):
        problems.append({"field": "messages", "error": "messages must be an array"})
    elif not messages:
        problems.append({"field": "messages", "error": "messages must contain at least 1 message"})
    elif len(messages) > MAX_BULK_CHUNK:
        problems.append(
            {
                "field": "messages",
                "error": f"messages must not contain more than {MAX_BULK_CHUNK} messages",
            }
        )
    if problems or account is None or not isinstance(messages, list):
        return validation_error(request_id, problems)

    now = time.time()
    status_at = now + ctx.state.delivery_delay
    callback_url = ctx.state.callback_url_for(account)
    pick = ctx.state.outcomes.pick
    label = account.label
    prefix = request_id + "-"
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    records: list[MessageRecord] = []
    for index, item in enumerate(messages):
        if not isinstance(item, dict):
            rejected.append({"index": index, "phone": "", "reason": REASONS["not_object"]})
            continue
        to = item.get("smsTo")
        sender = item.get("smsFrom")
        text = item.get("smsText")
        fmt = item.get("callback_format")
        if not isinstance(to, str) or not to:
            reason: str | None = REASONS["to_missing"]
        else:
            reason = bulk_rejection(to)
        if reason is None:
            if not isinstance(sender, str) or not sender:
                reason = REASONS["from_missing"]
            elif len(sender) > 6:
                reason = REASONS["from_long"]
            elif not isinstance(text, str) or not text:
                reason = REASONS["text_missing"]
            elif len(text) > MAX_TEXT_LENGTH:
                reason = REASONS["text_long"]
            elif fmt not in _FORMATS:
                reason = REASONS["format"]
        if reason is not None:
            phone = "" if to is None else str(to)
            rejected.append({"index": index, "phone": phone, "reason": reason})
            continue
        assert isinstance(to, str) and isinstance(sender, str) and isinstance(text, str)
        e164 = to if to[0] == "+" else "+" + to
        message_id = prefix + str(len(accepted) + 1)
        value1 = item.get("callback_value1")
        value2 = item.get("callback_value2")
        records.append(
            MessageRecord(
                message_id,
                "bulk",
                e164,
                label,
                now,
                sender,
                text,
                callback_value1=None if value1 is None else str(value1),
                callback_value2=None if value2 is None else str(value2),
                callback_format=fmt,
                outcome=pick(e164),
                status_at=status_at,
                callback_url=callback_url,
            )
        )
        accepted.append({"messageId": message_id, "smsFrom": sender, "smsTo": to})
    if not account.sandbox:  # sandbox: "No actual SMS sent", nothing recorded or reported
        ctx.state.record(records)
        ctx.deliveries.schedule(records)
    chunks = -(-len(accepted) // CHUNK_SIZE)
    body: dict[str, Any] = {
        "success": True,
        "requestId": request_id,
        "messageCount": len(accepted),
        "timestamp": iso_utc(now),
        "processingTime": int((time.perf_counter() - started) * 1000),
        "queueStats": {
            "success": True,
            "totalChunks": chunks,
            "successfulChunks": chunks,
            "failedChunks": 0,
        },
        "messages": accepted,
    }
    if rejected:
        body["rejectedSamples"] = rejected
    return json_response(200, body)
