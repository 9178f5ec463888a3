"""The emulator's own JSON API under ``/__emulator__/`` (for other processes and languages).

=======  ==========================  ==================================================
method   path                        what
=======  ==========================  ==================================================
GET      ``health``                  ``{"status": "ok"}``
GET      ``messages[?phone=]``       ``{"messages": [...]}``
GET      ``otp?phone=``              ``{"phone": ..., "otp": ...}`` (404 when none)
GET      ``requests``                ``{"requests": [...]}`` (keys redacted)
GET      ``deliveries``              ``{"deliveries": [...]}``
POST     ``reset``                   clear messages, sessions, logs, faults
GET      ``faults``                  ``{"faults": [...]}``
POST     ``faults``                  add one: ``{"kind": "status", "status": 503, ...}``
DELETE   ``faults``                  clear them
POST     ``click``                   ``{"target": id or phone, "ip": ...}``
POST     ``outcome``                 ``{"phone": ..., "status": "UNDELIVERED" or null}``
POST     ``config``                  ``{"callback_url", "latency_ms", "sandbox_style_success",
                                     "sandbox", "json_content_type"}``
POST     ``sandbox``                 ``{"enabled": true, "api_key": optional}``
=======  ==========================  ==================================================

POST, PUT and DELETE need ``Content-Type: application/json``; requests with an ``Origin``
header (browsers) are refused (see :mod:`~twofactor_notify.emulator.server`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..wire import Request, Response, json_response

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = ["handle"]


#: The keys ``POST /__emulator__/config`` takes; any other is refused (400) rather than
#: ignored, so that a misspelt setting cannot pass for an applied one.
CONFIG_KEYS = frozenset(
    {"callback_url", "latency_ms", "sandbox", "json_content_type", "sandbox_style_success"}
)


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def _json_body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    data = json.loads(request.body)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def handle(request: Request, emulator: Emulator) -> Response:
    """Answer one ``/__emulator__/`` request."""
    name = request.path[len("/__emulator__/") :].strip("/")
    key = (request.method, name)
    try:
        body = _json_body(request) if request.method in ("POST", "PUT") else {}
    except ValueError as exc:
        return _error(400, f"invalid JSON body: {exc}")
    query = request.query_params()
    try:
        if key == ("GET", "health"):
            return json_response(200, {"status": "ok"})
        if key == ("GET", "messages"):
            phone = query.get("phone") or None
            records = emulator.messages(phone)
            return json_response(200, {"messages": [rec.to_dict() for rec in records]})
        if key == ("GET", "otp"):
            phone = query.get("phone", "")
            if not phone:
                return _error(400, "the phone query parameter is required")
            otp = emulator.last_otp(phone)
            if otp is None:
                return _error(404, "no OTP was sent to this number")
            return json_response(200, {"phone": phone, "otp": otp})
        if key == ("GET", "requests"):
            return json_response(200, {"requests": [e.to_dict() for e in emulator.requests]})
        if key == ("GET", "deliveries"):
            return json_response(200, {"deliveries": [d.to_dict() for d in emulator.deliveries]})
        if key == ("POST", "reset"):
            emulator.reset()
            return json_response(200, {"reset": True})
        if key == ("GET", "faults"):
            return json_response(200, {"faults": [f.to_dict() for f in emulator.faults.active()]})
        if key == ("POST", "faults"):
            kind = body.pop("kind", None)
            if not isinstance(kind, str):
                return _error(400, "kind is required")
            fault = emulator.inject(kind, **body)
            return json_response(201, {"fault": fault.to_dict()})
        if key == ("DELETE", "faults"):
            emulator.clear_faults()
            return json_response(200, {"faults": []})
        if key == ("POST", "click"):
            target = body.get("target")
            if not isinstance(target, str):
                return _error(400, "target (a message id or phone number) is required")
            payload = emulator.trigger_click(target, ip=str(body.get("ip", "203.0.113.7")))
            return json_response(200, {"payload": payload})
        if key == ("POST", "outcome"):
            phone = body.get("phone")
            status = body.get("status")
            if not isinstance(phone, str) or not (status is None or isinstance(status, str)):
                return _error(400, "phone (string) and status (string or null) are required")
            emulator.set_outcome(phone, status)
            return json_response(200, {"phone": phone, "status": status})
        if key == ("POST", "config"):
            unknown = sorted(str(k) for k in body if k not in CONFIG_KEYS)
            if unknown:
                return _error(
                    400,
                    f"unknown config key(s): {', '.join(unknown)} "
                    f"(accepted: {', '.join(sorted(CONFIG_KEYS))})",
                )
            url = body.get("callback_url")
            if url is not None and not isinstance(url, str):
                return _error(400, "callback_url must be a string or null")
            latency = body.get("latency_ms", 0.0)
            if isinstance(latency, bool) or not isinstance(latency, (int, float)):
                return _error(400, "latency_ms must be a number")
            if not 0 <= latency < float("inf"):
                return _error(400, "latency_ms must be a number >= 0")
            sandbox = body.get("sandbox", False)
            if not isinstance(sandbox, bool):
                return _error(400, "sandbox must be true or false")
            if "callback_url" in body:
                emulator.callback_url = url
            if "latency_ms" in body:
                emulator.latency_ms = float(latency)
            if "json_content_type" in body:
                emulator.json_content_type = body["json_content_type"]  # ValueError: 400
            if "sandbox_style_success" in body:
                emulator.sandbox_style_success = bool(body["sandbox_style_success"])
            if "sandbox" in body:
                emulator.sandbox = sandbox
            return json_response(200, {"config": "updated"})
        if key == ("POST", "sandbox"):
            enabled = body.get("enabled", True)
            api_key = body.get("api_key")
            if not isinstance(enabled, bool) or not (api_key is None or isinstance(api_key, str)):
                return _error(400, "enabled (true or false) and api_key (string, optional)")
            account = emulator.set_sandbox(enabled, api_key=api_key)
            return json_response(200, {"account": account.label, "sandbox": account.sandbox})
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    except LookupError as exc:
        return _error(404, str(exc.args[0]) if exc.args else "not found")
    return _error(404, f"no such emulator endpoint: {request.method} /__emulator__/{name}")
