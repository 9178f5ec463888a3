"""An in-process HTTP adapter that answers every request with a canned 2Factor body.

Mounted on a :class:`requests.Session`, it replaces the network: ``send()`` builds a
:class:`requests.Response` with the JSON body 2Factor would return for that URL. The same
adapter serves the client under test and the raw-``requests`` baseline, so the difference
between them is exactly the client's own work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["CannedAdapter", "canned_session"]

SESSION_ID = "9f3c1f7e-3b52-4b1e-9a43-5c2f0e0c2a11"
_OTP_SENT = b'{"Status":"Success","Details":"' + SESSION_ID.encode() + b'"}'
_OTP_MATCHED = b'{"Status":"Success","Details":"OTP Matched"}'
_R1_SENT = b'{"Status":"Success","Details":"' + SESSION_ID.encode() + b'"}'


def _body_for(url: str) -> bytes:
    if "/VERIFY" in url:
        return _OTP_MATCHED
    if "/API/V1/" in url:
        return _OTP_SENT
    return _R1_SENT


class CannedAdapter(HTTPAdapter):
    """Answers every request at once with the 2Factor body for its URL (HTTP 200, JSON).

    :param record_times: keep the :func:`time.perf_counter` of every request in
        :attr:`times` (what the rate-limit benchmark measures).
    """

    def __init__(self, *, record_times: bool = False) -> None:
        super().__init__(max_retries=0)
        self.record_times = record_times
        self.times: list[float] = []
        self._headers: Mapping[str, str] = {"Content-Type": "application/json; charset=utf-8"}
        self._lock = threading.Lock()

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Answer ``request`` without any I/O."""
        if self.record_times:
            self.times.append(time.perf_counter())
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.headers = CaseInsensitiveDict(self._headers)
        response._content = _body_for(request.url or "")
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.connection = self
        return response


def canned_session(*, record_times: bool = False) -> tuple[requests.Session, CannedAdapter]:
    """A session whose every request (http and https) is answered by a :class:`CannedAdapter`."""
    session = requests.Session()
    adapter = CannedAdapter(record_times=record_times)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session, adapter
