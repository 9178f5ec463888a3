"""Target 1: per-call overhead of the client, and the cost of hook dispatch.

* ``send_otp`` / ``verify_otp`` against a raw ``requests.Session.get`` of the very URL the
  client builds, both through one in-process canned-response adapter (no network): the
  ratio is what the client adds on top of ``requests`` itself. Target: at most 1.10.
* ``Transport.send_otp`` with three no-op plugins (``before_send`` + ``after_send``) against
  the same transport class with none, over the same canned client. Target: at most 5 µs
  more per send.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from twofactor_notify import hookimpl
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.transport import TwoFactorTransport

from ._canned import SESSION_ID, canned_session
from ._support import Row, Table, median, paired_samples, per_call_samples, profile_top

NAME = "overhead"
TITLE = "1. Per-call overhead (canned adapter, no network)"

API_KEY = "bench-0123456789abcdef"
BASE_URL = "https://2factor.in"
PHONE = "+919876543210"
OTP = "482913"


class NoOpPlugin:
    """A plugin whose hooks do nothing (what the hook-dispatch figure measures)."""

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> None:
        """Leave the message as it is."""
        return None

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        """Do nothing."""


def _contenders(
    session: requests.Session, client: TwoFactorClient, send_url: str, verify_url: str
) -> dict[str, Callable[[], object]]:
    timeout = client.timeout

    def raw_send() -> object:
        return session.get(send_url, timeout=timeout)

    def raw_verify() -> object:
        return session.get(verify_url, timeout=timeout)

    def client_send() -> object:
        return client.send_otp(PHONE)

    def client_verify() -> object:
        return client.verify_otp(OTP, session_id=SESSION_ID)

    return {
        "raw_send": raw_send,
        "client_send": client_send,
        "raw_verify": raw_verify,
        "client_verify": client_verify,
    }


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    calls, repeats = (100, 3) if smoke else (200, 50)
    table = Table(TITLE)
    send_url = f"{BASE_URL}/API/V1/{API_KEY}/SMS/{PHONE[3:]}/AUTOGEN"
    verify_url = f"{BASE_URL}/API/V1/{API_KEY}/SMS/VERIFY/{SESSION_ID}/{OTP}"
    clients = []
    for trust_env in (True, False):
        session, _adapter = canned_session()
        session.trust_env = trust_env
        client = TwoFactorClient(API_KEY, base_url=BASE_URL, session=session)
        clients.append(client)
        timeout = client.timeout
        # The adapter sees the same URLs from both sides (checked: the baseline stays honest).
        assert session.get(send_url, timeout=timeout).json()["Details"] == SESSION_ID
        assert client.send_otp(PHONE).session_id == SESSION_ID
        assert client.verify_otp(OTP, session_id=SESSION_ID)
        contenders = _contenders(session, client, send_url, verify_url)
        samples = paired_samples(contenders, calls=calls, repeats=repeats)
        best = {name: median(values) for name, values in samples.items()}
        suffix = "" if trust_env else " [trust_env=False]"
        for label, mine, base in (
            ("send_otp vs Session.get", "client_send", "raw_send"),
            ("verify_otp vs Session.get", "client_verify", "raw_verify"),
        ):
            ratio = median([m / b for m, b in zip(samples[mine], samples[base], strict=True)])
            table.add(
                Row(
                    label + suffix,
                    f"{best[mine] * 1e6:.1f} µs",
                    f"{best[base] * 1e6:.1f} µs",
                    ratio,
                    "<= 1.10",
                    # the baseline is a default Session; the lean one is shown beside
                    (ratio <= 1.10) if trust_env else None,
                )
            )
            if ratio > 1.10 and not smoke:
                table.notes.append(f"profile of {label.split()[0]}{suffix} (top own time):")
                table.notes += profile_top(contenders[mine], calls=2_000)
        client_send = contenders["client_send"]

    # hooks over the lean session (the last one): less noise around a small difference
    bare = TwoFactorTransport(client, load_entrypoints=False)
    hooked = TwoFactorTransport(
        client, load_entrypoints=False, plugins=[NoOpPlugin(), NoOpPlugin(), NoOpPlugin()]
    )
    assert len(hooked.plugin_manager.get_plugins()) == 3

    def bare_send() -> object:
        return bare.send_otp(PHONE)

    def hooked_send() -> object:
        return hooked.send_otp(PHONE)

    # Paired rounds (bare, hooked, client back to back, order alternating) and the median
    # of the per-round differences: a few microseconds must survive the machine's drift.
    for fn in (bare_send, hooked_send, client_send):
        per_call_samples(fn, calls=calls, repeats=1)
    deltas, bare_times, hooked_times, client_times = [], [], [], []
    for i in range(repeats):
        order = [(bare_send, bare_times), (hooked_send, hooked_times), (client_send, client_times)]
        for fn, out in order if i % 2 == 0 else order[::-1]:
            out.append(per_call_samples(fn, calls=calls, repeats=1, warmup=0)[0])
        deltas.append(hooked_times[-1] - bare_times[-1])
    timing = {
        "bare": median(bare_times),
        "hooked": median(hooked_times),
        "client": median(client_times),
    }
    extra_us = median(deltas) * 1e6
    table.add(
        Row(
            "hooks: 3 no-op plugins vs 0 (Δ/send)",
            f"{extra_us:+.2f} µs",
            f"{timing['bare'] * 1e6:.1f} µs",
            timing["hooked"] / timing["bare"],
            "<= +5 µs",
            extra_us <= 5.0,
        )
    )
    table.add(
        Row(
            "Transport.send_otp (0 plugins) vs client",
            f"{timing['bare'] * 1e6:.1f} µs",
            f"{timing['client'] * 1e6:.1f} µs",
            timing["bare"] / timing["client"],
        )
    )
    table.notes.append(
        "baseline: requests.Session.get(<the same URL>, timeout=10) on the same session and "
        f"CannedAdapter; medians of {repeats} paired rounds of {calls:,} calls (ratio = median "
        "of per-round ratios). "
        "[trust_env=False]: both on a session that skips requests' per-call scan of the "
        "environment for proxies and .netrc (a leaner, stricter baseline; shown as info). "
        "Hooks: median of per-round differences (3 no-op plugins minus none), same canned "
        "client (trust_env=False); baseline column = the bare transport."
    )
    for c in clients:
        c.close()
    return table
