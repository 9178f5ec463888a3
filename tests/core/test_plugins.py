"""The built-in plugins: LoggingPlugin (no secrets, masked numbers) and SendGuard (region
allowlist, per-number window with an injected clock, global limit, bulk counted globally)."""

from __future__ import annotations

import logging

import pytest

from twofactor_notify import (
    AuthenticationError,
    BulkMessage,
    ClickReport,
    ConfigurationError,
    DeliveryReport,
    DeliveryStatus,
    InMemoryTransport,
    SendRefusedError,
    TwoFactorTransport,
)
from twofactor_notify.plugins import InMemoryCounterStore, LoggingPlugin, SendGuard
from twofactor_notify.plugins.logging import mask_number

from .conftest import RecordingPlugin

A = "9876543210"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_logging_plugin_logs_masked_numbers_and_no_secrets(emulator, make_client, caplog):
    client = make_client()
    transport = TwoFactorTransport(client, plugins=[LoggingPlugin()], load_entrypoints=False)
    with caplog.at_level(logging.INFO, logger="twofactor_notify.sends"):
        sent = transport.send_otp(A, otp="482913")
        transport.send_sms([A, "9123456780"], "Your secret code is 482913", sender="TFACTR")
        transport.send_bulk([BulkMessage(to=A, text="bulk 482913", sender="TFACTR")] * 2)
        transport.handle_report(
            DeliveryReport(
                message_id="m-1",
                status=DeliveryStatus.DELIVERED,
                to="+919876543210",
                raw_status="DELIVERED",
            )
        )
        transport.handle_report(ClickReport(phone="+919876543210", campaign_name="Sale"))
        emulator.inject("status", times=1, status=503)
        with pytest.raises(Exception):
            transport.send_otp(A, otp="482913")
    bad = TwoFactorTransport(
        make_client(api_key="55555555-aaaa-bbbb-cccc-000000000000"),
        plugins=[LoggingPlugin("audit")],
        load_entrypoints=False,
    )
    with caplog.at_level(logging.INFO, logger="audit"), pytest.raises(AuthenticationError):
        bad.send_otp(A, otp="482913")

    lines = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.name in ("twofactor_notify.sends", "audit")
    ]
    text = "\n".join(m for _, _, m in lines)
    assert "+91******3210" in text and "+91******6780" in text
    assert "9876543210" not in text and "9123456780" not in text
    assert "482913" not in text
    assert emulator.api_key not in text
    assert sent.session_id in text
    assert "2 accepted, 0 rejected" in text
    assert "delivery report m-1" in text and "click on campaign Sale" in text
    warnings = [m for _, level, m in lines if level == logging.WARNING]
    assert len(warnings) == 2
    assert "ServerError" in warnings[0] or "server error" in warnings[0]
    assert "API key" in warnings[1] or "Invalid API Key" in warnings[1]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+919876543210", "+91******3210"),
        ("+14155552671", "+14*****2671"),
        ("+123", "****"),
    ],
)
def test_mask_number(number, masked):
    assert mask_number(number) == masked


def test_guard_region_allowlist_defaults_to_india():
    recorder = RecordingPlugin()
    transport = InMemoryTransport(plugins=[SendGuard(), recorder], load_entrypoints=False)
    # (an SMS: 2Factor's OTP endpoints refuse another country's number before any plugin)
    with pytest.raises(SendRefusedError) as caught:
        transport.send_sms("+1 415 555 2671", "x", sender="TFACTR")
    assert caught.value.reason == "region"
    assert "2671" in str(caught.value) and "4155552671" not in str(caught.value)
    assert transport.outbox == []
    assert isinstance(recorder.after[0][2], SendRefusedError)
    # a mixed text message is refused as a whole
    with pytest.raises(SendRefusedError):
        transport.send_sms([A, "+447911123456"], "x", sender="TFACTR")
    assert transport.send_otp(A).to == "+919876543210"
    open_guard = InMemoryTransport(
        plugins=[SendGuard(allowed_regions=None)], load_entrypoints=False
    )
    assert open_guard.send_sms("+1 415 555 2671", "x", sender="TFACTR")
    us_too = InMemoryTransport(
        plugins=[SendGuard(allowed_regions=["in", "US"])], load_entrypoints=False
    )
    assert us_too.send_sms("+1 415 555 2671", "x", sender="TFACTR")


def test_guard_per_number_window_with_injected_clock():
    clock = Clock()
    guard = SendGuard(per_number=3, window=60, store=InMemoryCounterStore(clock=clock))
    transport = InMemoryTransport(plugins=[guard], load_entrypoints=False)
    for _ in range(3):
        transport.send_otp(A)
    with pytest.raises(SendRefusedError) as caught:
        transport.send_otp("+91 98765 43210")  # the same number in another form
    assert caught.value.reason == "per_number"
    transport.send_otp("9123456780")  # another number is unaffected
    clock.now = 59.9
    with pytest.raises(SendRefusedError):
        transport.send_otp(A)
    clock.now = 60.0  # the window is over
    transport.send_otp(A)
    assert len(transport.outbox) == 5


def test_guard_global_limit_counts_every_recipient_and_bulk():
    clock = Clock()
    guard = SendGuard(
        per_number=None, global_limit=5, window=10, store=InMemoryCounterStore(clock=clock)
    )
    transport = InMemoryTransport(plugins=[guard], load_entrypoints=False)
    transport.send_sms([A, "9123456780"], "x", sender="TFACTR")  # 2
    result = transport.send_bulk(
        [BulkMessage(to=f"98765432{n:02d}", text="x", sender="TFACTR") for n in range(3)]
    )
    assert len(result.accepted) == 3  # 5
    with pytest.raises(SendRefusedError) as caught:
        transport.send_bulk([BulkMessage(to=A, text="x", sender="TFACTR")])
    assert caught.value.reason == "global"
    with pytest.raises(SendRefusedError):
        transport.send_otp("9000000001")
    clock.now = 10.0
    transport.send_otp("9000000001")


def test_guard_bulk_not_counted_per_number_but_region_checked():
    guard = SendGuard(per_number=1)
    transport = InMemoryTransport(plugins=[guard], load_entrypoints=False)
    same = [BulkMessage(to=A, text="x", sender="TFACTR")] * 5
    assert len(transport.send_bulk(same).accepted) == 5
    with pytest.raises(SendRefusedError) as caught:
        transport.send_bulk([*same, BulkMessage(to="+14155552671", text="x", sender="TFACTR")])
    assert caught.value.reason == "region"
    # an unparsable number is left to the client's per-message rejection
    assert transport.send_bulk([BulkMessage(to="junk", text="x", sender="TFACTR")])


def test_guard_on_the_emulator_transport_sends_nothing_when_refusing(emulator, make_client):
    transport = TwoFactorTransport(
        make_client(), plugins=[SendGuard(per_number=1)], load_entrypoints=False
    )
    transport.send_otp(A)
    with pytest.raises(SendRefusedError):
        transport.send_otp(A)
    with pytest.raises(SendRefusedError):
        transport.send_sms("+1 415 555 2671", "x", sender="TFACTR")
    assert len(emulator.messages()) == 1


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"per_number": 0}, {"global_limit": 0}])
def test_guard_configuration_errors(kwargs):
    with pytest.raises(ConfigurationError):
        SendGuard(**kwargs)


def test_counter_store_prunes_and_reprs():
    clock = Clock()
    store = InMemoryCounterStore(clock=clock)
    for n in range(1100):
        store.increment(f"k{n}", 1.0)
        clock.now += 0.01
    assert store.increment("k1099", 1.0) == 2
    assert "keys=" in repr(store)
    assert len(store._counts) < 1100
    assert "per_number=5" in repr(SendGuard())
