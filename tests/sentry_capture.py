"""Sentry with a transport that keeps its envelopes in a list (no network), for the tests of
:mod:`twofactor_notify.sentry`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk", reason="sentry-sdk is in the test extra")
from sentry_sdk.envelope import Envelope  # noqa: E402
from sentry_sdk.transport import Transport  # noqa: E402


class ListTransport(Transport):
    """Keeps every envelope; sends nothing anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def text(self) -> str:
        return "\n".join(e.serialize().decode("utf-8", "replace") for e in self.envelopes)


@contextmanager
def capture_sentry(**options: Any) -> Iterator[ListTransport]:
    """Sentry as a tester runs it (default integrations, local variables and PII on, every
    transaction sampled), sending to a :class:`ListTransport`; torn down on exit."""
    transport = ListTransport()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",  # never dialled: the transport is ours
        transport=transport,
        include_local_variables=True,
        send_default_pii=True,
        traces_sample_rate=1.0,
        **options,
    )
    try:
        yield transport
    finally:
        # No other test may run under Sentry: the integrations' patches stay, but with no
        # client behind them they pass every call through.
        sentry_sdk.get_client().close()
        for scope in (
            sentry_sdk.get_global_scope(),
            sentry_sdk.get_isolation_scope(),
            sentry_sdk.get_current_scope(),
        ):
            scope.set_client(None)
            scope.clear()
        if sentry_sdk.get_client().is_active():
            raise RuntimeError("Sentry is still active after the test")
