"""Sentry with a transport that keeps its envelopes in a list (no network), for the tests of
:mod:`twofactor_notify.sentry`.

The Django app (set up for the whole test session) has already called
:func:`twofactor_notify.sentry.install`; :func:`without_twofactor_scrubber` takes its effect
back for a block, for the tests that show what Sentry records without it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk", reason="sentry-sdk is in the test extra")
from sentry_sdk.envelope import Envelope  # noqa: E402
from sentry_sdk.scope import global_event_processors  # noqa: E402
from sentry_sdk.transport import Transport  # noqa: E402

from twofactor_notify import sentry as twofactor_sentry  # noqa: E402


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


@contextmanager
def without_twofactor_scrubber() -> Iterator[None]:
    """Sentry as if :func:`twofactor_notify.sentry.install` had never run: in the block,
    the one step by which it makes a client scrub does nothing (``SENTRY_OPTIONS`` given to
    ``init()`` still scrub)."""
    original = twofactor_sentry._scrub_hooks_of
    twofactor_sentry._scrub_hooks_of = lambda options: None
    try:
        yield
    finally:
        twofactor_sentry._scrub_hooks_of = original


@contextmanager
def without_the_global_processor() -> Iterator[None]:
    """Sentry's global event processors without :func:`twofactor_notify.sentry.install`'s
    (the Django app of the test session added it), so a test sees ``install`` add it; the
    list is put back as it was after the block."""
    saved = list(global_event_processors)
    global_event_processors[:] = [p for p in saved if p is not twofactor_sentry._on_every_event]
    try:
        yield
    finally:
        global_event_processors[:] = saved


def scrubbing_hooks(client: Any) -> dict[str, int]:
    """How many scrubbing layers wrap each hook of ``client`` (``install()`` must add one)."""
    depths = {}
    for name in ("before_send", "before_send_transaction", "before_breadcrumb"):
        hook, depth = client.options.get(name), 0
        while getattr(hook, "_twofactor_notify_scrubs", False):
            depth += 1
            hook = hook.__wrapped__
        depths[name] = depth
    return depths
