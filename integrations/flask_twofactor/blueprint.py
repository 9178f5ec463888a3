"""The webhook blueprint: 2Factor's delivery reports and click-tracking callbacks.

``init_app`` mounts it at ``TWOFACTOR_URL_PREFIX`` (default ``/twofactor``):

* ``POST <prefix>/delivery/`` — delivery reports (JSON object or list, or url-encoded);
* ``POST <prefix>/click/`` — clicks on tracked links.

Each answers with or without its trailing slash, and never redirects (a redirect would
repeat a ``?token=``): a URL with doubled slashes is answered 404.

2Factor does not sign its webhooks: every request must carry the shared token in the
``X-TwoFactor-Token`` header (headers stay out of access logs). Where only a URL can be
registered, as in 2Factor's callback settings, ``TWOFACTOR_WEBHOOK_QUERY_TOKEN = True``
also accepts it in the query string:
``https://example.com/twofactor/delivery/?token=<TWOFACTOR_WEBHOOK_TOKEN>``. When both are
present the header is used.

Both views call the core :func:`~twofactor_notify.webhooks.ingest_reports`: each new report
is handed to every ``on_delivery`` plugin and signal receiver (each on its own) before the
answer, which is 200 once every report is handed over, 503 if one could not be (2Factor
retries), and 4xx only for a request that is not a valid report.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Flask, Response, jsonify, request
from flask.globals import request_ctx
from werkzeug.exceptions import RequestEntityTooLarge

from twofactor_notify.credentials import Secret
from twofactor_notify.errors import WebhookError
from twofactor_notify.redaction import library_logger
from twofactor_notify.webhooks import (
    MAX_WEBHOOK_BYTES,
    IngestResult,
    check_token,
    hide_token,
    hide_token_in_query,
    read_limited,
    token_from,
)

from .config import TwoFactorConfig
from .extension import get_state

__all__ = ["BLUEPRINT_NAME", "read_limited", "register_webhooks", "webhooks"]

#: The blueprint's name, hence its endpoints: ``twofactor.delivery``, ``twofactor.click``.
BLUEPRINT_NAME = "twofactor"

logger = library_logger("flask_twofactor.webhooks")

webhooks = Blueprint(BLUEPRINT_NAME, __name__)

#: werkzeug answers a URL that differs from a rule only by a slash with a 308 whose
#: ``Location`` repeats the query string, hence a ``?token=``, and 2Factor does not follow
#: it (the report is lost). So neither rule redirects: the trailing slash is optional, and
#: a URL with doubled slashes (``/twofactor//delivery/``) is not one of them (404).
_NO_REDIRECT = {"strict_slashes": False, "merge_slashes": False}


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(ok=False, error=message), status


def _body() -> bytes:
    declared = request.content_length
    if declared is not None and declared > MAX_WEBHOOK_BYTES:
        raise WebhookError("webhook body is too large", http_status=413)
    return read_limited(request.stream)


def _take_token(query: bool) -> Secret | None:
    """The token the request carries, then hidden from the request for the rest of its life.

    The ``X-TwoFactor-Token`` header (any case) wins over ``?token=`` (read only when
    ``query``); it is held in a :class:`~twofactor_notify.credentials.Secret`. Both are
    replaced by stars in the WSGI environ (which ``request.url``, ``request.args``, error
    reporters' request data and access logs read) and in the copies werkzeug and Flask made
    of the query string when the request came in.
    """
    token = Secret.wrap(token_from(request.headers, request.args if query else None))
    environ = request.environ
    hide_token(environ)
    request.query_string = str(environ.get("QUERY_STRING", "")).encode("latin-1")
    for cached in _CACHED_FROM_QUERY:
        request.__dict__.pop(cached, None)
    # the request context's URL adapter copied the query string when the request came in
    adapter = getattr(request_ctx, "url_adapter", None)
    if adapter is not None and isinstance(adapter.query_args, str):
        adapter.query_args = hide_token_in_query(adapter.query_args)
    return token


#: What werkzeug caches on a request from its query string (its headers are a live view).
_CACHED_FROM_QUERY = ("args", "url", "full_path", "values")


def _receive(kind: Literal["delivery", "click"]) -> tuple[Response, int]:
    receiver = get_state().receiver
    token = _take_token(receiver.query_token)  # first: no error below finds it in the request
    try:
        check_token(token, receiver.token)  # before reading a body from a stranger
        body = _body()
    except RequestEntityTooLarge:  # the app's MAX_CONTENT_LENGTH is smaller than ours
        return _error(413, "webhook body is too large")
    except WebhookError as exc:
        logger.warning("refused a %s webhook (HTTP %s): %s", kind, exc.http_status, exc.message)
        return _error(exc.http_status, exc.message)
    result = receiver.ingest(kind, body, request.content_type, token)
    del token
    if result.status >= 500:
        answer = jsonify(
            ok=False,
            error=result.error,
            received=result.new,
            failed=result.failed,
            **_refused(result),
        )
        return answer, result.status
    if not result.ok:
        # the message names the problem, never the token or the body
        logger.warning("refused a %s webhook (HTTP %s): %s", kind, result.status, result.error)
        return _error(result.status, result.error or "refused")
    return jsonify(ok=True, received=result.new, **_refused(result)), 200


def _refused(result: IngestResult) -> dict[str, int]:
    """``{"refused": n}`` when invalid reports of a list were skipped beside valid ones."""
    return {"refused": result.refused} if result.refused else {}


@webhooks.post("/delivery/", **_NO_REDIRECT)
def delivery() -> tuple[Response, int]:
    """Receive delivery reports; fires ``on_delivery`` (and ``delivery_received``) per report.

    Answers ``{"ok": true, "received": <new reports>}``; a report seen before is accepted
    again without firing twice.
    """
    return _receive("delivery")


@webhooks.post("/click/", **_NO_REDIRECT)
def click() -> tuple[Response, int]:
    """Receive a click-tracking callback; fires ``on_delivery`` (and ``click_received``)."""
    return _receive("click")


def register_webhooks(app: Flask, config: TwoFactorConfig) -> None:
    """Mount the blueprint at ``config.url_prefix`` and exempt it from Flask-WTF's CSRF check.

    The CSRF exemption applies when ``CSRFProtect`` was initialised before this extension;
    otherwise call ``csrf.exempt(flask_twofactor.blueprint.webhooks)`` yourself.
    """
    if not config.webhook_token:
        logger.warning(
            "TWOFACTOR_WEBHOOK_TOKEN is not set: the webhook endpoints of app %r refuse "
            "every callback",
            app.name,
        )
    app.register_blueprint(webhooks, url_prefix=config.url_prefix or None)
    csrf = app.extensions.get("csrf")
    exempt = getattr(csrf, "exempt", None)
    if callable(exempt):
        exempt(webhooks)
