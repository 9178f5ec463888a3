"""Fault injection: make the emulator misbehave the way networks and proxies do.

A :class:`Fault` applies to API requests (never to ``/__emulator__/``) whose path contains
``match`` (any path when ``None``), on every such request or with probability ``rate``,
``times`` times or until cleared. Kinds:

``latency``
    add ``latency_ms`` before answering (combines with other faults).
``timeout``
    process the request, then hold the connection ``seconds`` and close it unanswered.
``reset_before``
    reset the connection (TCP RST) before reading the body: the request had no effect.
``reset_after``
    process the request, then reset the connection without answering.
``status``
    answer ``status`` (429 with ``Retry-After``, 500, 502, 503...) with a JSON body, or
    ``body`` / ``content_type`` when given; the request is not processed.
``html``
    answer an HTML error page with ``status`` (default 502; 200 for a captive portal).
``truncated``
    process the request and answer the first half of its body.
``echo``
    answer ``status`` (default 400) repeating the request back, as a debugging proxy or a
    careless gateway does: the request line, headers and body in the JSON ``Details``, the
    path and the ``Secret-Key`` header in ``X-Echo-*`` headers, and the whole request in
    Base64 in ``X-Echo-Request``; the request is not processed. A client must not let the
    keys it finds there reach its errors.
"""

from __future__ import annotations

import base64
import itertools
import math
import random
import threading
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any

from .wire import Request, Response, json_response

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultBook",
    "FaultPlan",
    "echo_response",
    "fault_response",
    "truncate",
]

FAULT_KINDS = frozenset(
    {"latency", "timeout", "reset_before", "reset_after", "status", "html", "truncated", "echo"}
)
_TERMINAL = FAULT_KINDS - {"latency"}
_ids = itertools.count(1)


@dataclass(slots=True)
class Fault:
    """One injected fault; see the module docstring for the kinds and their parameters."""

    kind: str
    times: int | None = None
    rate: float | None = None
    match: str | None = None
    latency_ms: float = 0.0
    seconds: float = 10.0
    status: int | None = None
    body: str | None = None
    content_type: str | None = None
    retry_after: int | None = 1
    id: int = field(default_factory=lambda: next(_ids))
    fired: int = 0

    def __post_init__(self) -> None:
        # Checked and coerced here, once: a bad value (``"300"``, ``"abc"``) reaching the
        # request path would break every later request, not just the call that added it.
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.times is not None:
            self.times = _whole("times", self.times, minimum=1)
        if self.rate is not None:
            self.rate = _number("rate", self.rate)
            if not 0.0 <= self.rate <= 1.0:
                raise ValueError("rate must be between 0 and 1")
        if self.match is not None and not isinstance(self.match, str):
            raise ValueError("match must be a string (a part of the path) or null")
        self.latency_ms = _number("latency_ms", self.latency_ms)
        self.seconds = _number("seconds", self.seconds)
        if self.status is None:
            self.status = {"html": 502, "echo": 400}.get(self.kind, 503)
        self.status = _whole("status", self.status, minimum=100)
        if self.status > 599:
            raise ValueError("status must be an HTTP status from 100 to 599")
        if self.retry_after is not None:
            self.retry_after = _whole("retry_after", self.retry_after, minimum=0)
        for name in ("body", "content_type"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or null")
        if self.content_type is not None and any(c in self.content_type for c in "\r\n"):
            raise ValueError("content_type must be one line")

    def to_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data."""
        return asdict(self)


def _number(name: str, value: object) -> float:
    """``value`` as a finite float >= 0 (numeric strings accepted); ``ValueError`` if not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a number >= 0")
    return number


def _whole(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (digit strings accepted); ``ValueError`` if not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{name} must be a whole number")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return number


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request: extra latency and at most one terminal fault."""

    latency_s: float = 0.0
    action: Fault | None = None


_NO_FAULT = FaultPlan()


class FaultBook:
    """The faults in force, drawn per request; thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def add(self, kind: str, **params: Any) -> Fault:
        """Add a fault (see :class:`Fault` for the parameters) and return it.

        :raises ValueError: an unknown kind or a bad parameter value.
        :raises TypeError: an unknown parameter.
        """
        internal = sorted({"id", "fired"} & params.keys())
        if internal:
            raise TypeError(f"{', '.join(internal)} cannot be set")
        fault = Fault(kind, **params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def reseed(self, seed: int | None) -> None:
        """Restart the ``rate`` RNG from ``seed`` (a reset run draws as a fresh one does)."""
        with self._lock:
            self._rng.seed(seed)

    def active(self) -> list[Fault]:
        """The faults still in force."""
        with self._lock:
            return list(self._faults)

    def draw(self, path: str) -> FaultPlan:
        """Decide which faults hit a request to ``path``; uses up ``times``."""
        if not self._faults:
            return _NO_FAULT
        latency = 0.0
        action: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if fault.match is not None and fault.match not in path:
                    continue
                if fault.kind != "latency" and action is not None:
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                if fault.kind == "latency":
                    latency += fault.latency_ms / 1000.0
                else:
                    action = fault
        return FaultPlan(latency, action)


_HTML_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def fault_response(fault: Fault) -> Response:
    """The answer of a ``status`` or ``html`` fault."""
    status = fault.status or 503
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if fault.kind == "html":
        text = fault.body or _HTML_PAGE.format(code=status, phrase=phrase)
        return Response(status, text.encode("utf-8"), fault.content_type or "text/html")
    headers: dict[str, str] = {}
    if status == 429 and fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    if fault.body is not None:
        return Response(
            status, fault.body.encode("utf-8"), fault.content_type or "text/plain", headers
        )
    return json_response(status, {"Status": "Error", "Details": phrase}, headers)


def truncate(response: Response) -> Response:
    """``response`` with only the first half of its body (at least one byte short)."""
    cut = max(0, min(len(response.body) // 2, len(response.body) - 1))
    return Response(response.status, response.body[:cut], response.content_type, response.headers)


def echo_response(fault: Fault, request: Request) -> Response:
    """The answer of an ``echo`` fault: ``request`` repeated back (see the module docstring)."""
    target = request.path + (f"?{request.query}" if request.query else "")
    head = [f"{request.method} {target} HTTP/1.1"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    text = "\r\n".join(head) + "\r\n\r\n" + request.body.decode("utf-8", "replace")
    headers = {
        "X-Echo-Path": target.encode("ascii", "replace").decode("ascii"),
        "X-Echo-Request": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }
    secret = request.header("secret-key")
    if secret is not None and secret.isascii() and secret.isprintable():
        headers["X-Echo-Secret-Key"] = secret
    return json_response(
        fault.status or 400, {"Status": "Error", "Details": f"upstream said: {text}"}, headers
    )
