"""The request and response values that pass between the HTTP server and the routes.

The server parses the socket into a :class:`Request`; a route returns a :class:`Response`.
Routes never touch sockets, so they are plain functions that are easy to read and test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Request", "Response", "api_error", "json_response", "text_response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as the routes see it.

    :param method: upper-case HTTP method.
    :param path: the URL path, still percent-encoded.
    :param query: the raw query string (without ``?``).
    :param headers: header names lower-cased.
    :param body: the raw body bytes.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def query_params(self) -> dict[str, str]:
        """The query string as a dict (last value wins, blanks kept)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def form_params(self) -> dict[str, str]:
        """Query string merged with a url-encoded body (the body wins)."""
        params = self.query_params()
        if self.body:
            text = self.body.decode("utf-8", errors="replace")
            params.update(parse_qsl(text, keep_blank_values=True))
        return params

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer, compact like 2Factor's."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json", headers or {})


def text_response(status: int, text: str, content_type: str = "text/plain") -> Response:
    """A text answer (the encrypted endpoints' Base64 success bodies, HTML error pages)."""
    return Response(status, text.encode("utf-8"), content_type)


def api_error(details: str, status: int = 400) -> Response:
    """2Factor's error shape: ``{"Status":"Error","Details":...}``, HTTP 400 by default."""
    return json_response(status, {"Status": "Error", "Details": details})
