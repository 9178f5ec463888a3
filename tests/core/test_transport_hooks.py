"""The transports and their hooks: before_send chain and refusal, after_send always, plugin
errors swallowed and logged, plugins from dotted paths and entry points, the same hooks on
all four transports, InMemory verification semantics and the console's masked OTP."""

from __future__ import annotations

import dataclasses
import io
import logging
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from twofactor_notify import (
    APIConnectionError,
    AuthenticationError,
    BulkBatch,
    BulkMessage,
    BulkResult,
    ConfigurationError,
    ConsoleTransport,
    DeliveryReport,
    DeliveryStatus,
    InMemoryTransport,
    InvalidInputError,
    NullTransport,
    OTPMessage,
    OTPSent,
    SendRefusedError,
    SMSMessage,
    SMSSent,
    TwoFactorClient,
    TwoFactorTransport,
    VerificationOutcome,
    hookimpl,
)
from twofactor_notify.hooks import make_plugin_manager

from .conftest import RecordingPlugin, wait_for_requests

A = "9876543210"
E164 = "+919876543210"

TRANSPORTS = ["twofactor", "memory", "console", "null"]


@pytest.fixture
def make_transport(emulator, make_client):
    def factory(kind: str, **kwargs):
        kwargs.setdefault("load_entrypoints", False)
        if kind == "twofactor":
            return TwoFactorTransport(make_client(), **kwargs)
        if kind == "memory":
            return InMemoryTransport(**kwargs)
        if kind == "console":
            return ConsoleTransport(stream=io.StringIO(), **kwargs)
        return NullTransport(**kwargs)

    return factory


# --------------------------------------------------------------------------- same hooks


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_every_transport_fires_the_same_hooks(make_transport, kind):
    plugin = RecordingPlugin()
    transport = make_transport(kind, plugins=[plugin], default_sender="TFACTR")
    otp = transport.send_otp("+91 98765 43210", otp="4829")
    sms = transport.send_sms([A, "09123456780"], "hello")
    bulk = transport.send_bulk([BulkMessage(to=A, text="x", sender="TFACTR")] * 3)

    assert isinstance(otp, OTPSent) and otp.to == E164
    assert isinstance(sms, SMSSent) and sms.to == (E164, "+919123456780")
    assert isinstance(bulk, BulkResult) and [a.index for a in bulk.accepted] == [0, 1, 2]
    kinds = [type(m) for m in plugin.before]
    assert kinds == [OTPMessage, SMSMessage, BulkBatch]
    # plugins see canonical data: E.164 numbers and the default sender filled in
    assert plugin.before[0].to == E164
    assert plugin.before[1].to == (E164, "+919123456780")
    assert plugin.before[1].sender == "TFACTR"
    assert [(type(m), type(r), e) for m, r, e in plugin.after] == [
        (OTPMessage, OTPSent, None),
        (SMSMessage, SMSSent, None),
        (BulkBatch, BulkResult, None),
    ]
    report = DeliveryReport(message_id=sms.message_id, status=DeliveryStatus.DELIVERED, to=E164)
    transport.handle_report(report)
    assert plugin.reports == [report]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_refusal_sends_nothing_and_after_send_gets_the_error(make_transport, emulator, kind):
    class Refuse:
        @hookimpl
        def before_send(self, message, transport):
            raise SendRefusedError("no", reason="test")

    plugin = RecordingPlugin()
    transport = make_transport(kind, plugins=[plugin, Refuse()])
    with pytest.raises(SendRefusedError):
        transport.send_otp(A)
    with pytest.raises(SendRefusedError):
        transport.send_bulk([BulkMessage(to=A, text="x", sender="TFACTR")])
    assert [type(e) for _, r, e in plugin.after] == [SendRefusedError, SendRefusedError]
    assert all(r is None for _, r, _ in plugin.after)
    if kind in ("memory", "console"):
        assert transport.outbox == []
    if kind == "twofactor":
        assert emulator.requests == []


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_invalid_message_is_refused_before_hooks(make_transport, kind):
    plugin = RecordingPlugin()
    transport = make_transport(kind, plugins=[plugin])
    with pytest.raises(InvalidInputError):
        transport.send_otp("12")
    with pytest.raises(InvalidInputError):
        transport.send_sms([], "x", sender="TFACTR")
    with pytest.raises(InvalidInputError):
        transport.send("not a message")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        transport.verify_otp("12a4", phone=A)
    with pytest.raises(InvalidInputError):
        transport.verify_otp("1234")
    assert plugin.before == []


def test_before_send_chain_each_sees_the_previous_replacement(make_transport, emulator):
    seen: list[tuple[str, str | None]] = []

    class SetTemplate:
        @hookimpl
        def before_send(self, message, transport):
            seen.append(("template", message.template))
            return dataclasses.replace(message, template="Login")

    class CheckTemplate:
        @hookimpl(trylast=True)
        def before_send(self, message, transport):
            seen.append(("check", message.template))
            return dataclasses.replace(message, to="+91 91234 56780")

    recorder = RecordingPlugin()
    transport = make_transport("twofactor", plugins=[CheckTemplate(), SetTemplate(), recorder])
    sent = transport.send_otp(A)
    # pluggy: last registered first, trylast at the end
    assert seen == [("template", None), ("check", "Login")]
    # the replacement's number is normalised again before the send
    assert sent.to == "+919123456780"
    assert wait_for_requests(emulator, 1)[0].path.endswith("/SMS/9123456780/AUTOGEN/Login")
    assert recorder.after[0][0].template == "Login"


def test_before_send_returning_garbage_is_a_configuration_error(make_transport):
    class Bad:
        @hookimpl
        def before_send(self, message, transport):
            return "not a message"

    plugin = RecordingPlugin()
    transport = make_transport("memory", plugins=[plugin, Bad()])
    with pytest.raises(ConfigurationError, match="returned a str"):
        transport.send_otp(A)
    assert transport.outbox == []
    assert isinstance(plugin.after[0][2], ConfigurationError)


def test_after_send_on_api_error_and_connection_error(emulator, make_client, closed_port):
    plugin = RecordingPlugin()
    stranger = TwoFactorTransport(
        make_client(api_key="44444444-aaaa-bbbb-cccc-000000000000"),
        plugins=[plugin],
        load_entrypoints=False,
    )
    with pytest.raises(AuthenticationError):
        stranger.send_otp(A)
    offline = TwoFactorTransport(
        TwoFactorClient(
            emulator.api_key, base_url=f"http://127.0.0.1:{closed_port}", connect_retries=0
        ),
        plugins=[plugin],
        load_entrypoints=False,
    )
    with pytest.raises(APIConnectionError):
        offline.send_sms(A, "x", sender="TFACTR")
    offline.close()
    assert [type(e) for _, _, e in plugin.after] == [AuthenticationError, APIConnectionError]


def test_bulk_chunk_failure_reaches_after_send(emulator, make_client):
    plugin = RecordingPlugin()
    transport = TwoFactorTransport(make_client(), plugins=[plugin], load_entrypoints=False)
    emulator.inject("status", times=1, status=503)
    result = transport.send_bulk([BulkMessage(to=A, text="x", sender="TFACTR")] * 15, chunk_size=10)
    assert result.failed_chunks[0].start == 0 and result.failed_chunks[0].error == "ServerError"
    assert [a.index for a in result.accepted] == list(range(10, 15))
    assert [type(e).__name__ for _, _, e in plugin.after] == ["ServerError", "NoneType"]


def test_plugin_errors_in_after_send_and_on_delivery_are_logged_and_swallowed(
    make_transport, caplog
):
    class Broken:
        @hookimpl
        def after_send(self, message, receipt, error, transport):
            raise RuntimeError("secret-ish detail 4829")

        @hookimpl
        def on_delivery(self, report, transport):
            raise KeyError("boom")

    recorder = RecordingPlugin()
    transport = make_transport("memory", plugins=[recorder, Broken()])
    with caplog.at_level(logging.ERROR, logger="twofactor_notify.transport"):
        sent = transport.send_otp(A, otp="4829")
        transport.handle_report(DeliveryReport(message_id="m", status=DeliveryStatus.FAILED))
    assert sent.session_id  # the receipt still reached the caller
    messages = [r.getMessage() for r in caplog.records]
    assert any("RuntimeError" in m and "after_send" in m for m in messages)
    assert any("KeyError" in m and "on_delivery" in m for m in messages)
    assert not any("4829" in m for m in messages)


# --------------------------------------------------------------------------- loading plugins


def test_plugins_from_dotted_paths(tmp_path, monkeypatch):
    (tmp_path / "tf_dotted_plugins.py").write_text(
        textwrap.dedent("""
        from twofactor_notify import hookimpl

        calls = []

        class Audit:
            @hookimpl
            def after_send(self, message, receipt, error, transport):
                calls.append(("class", message.to))

        @hookimpl
        def before_send(message, transport):
            calls.append(("module", message.to))
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    transport = InMemoryTransport(
        plugins=["tf_dotted_plugins.Audit", "tf_dotted_plugins"], load_entrypoints=False
    )
    transport.send_otp(A)
    import tf_dotted_plugins

    assert tf_dotted_plugins.calls == [("module", E164), ("class", E164)]
    with pytest.raises(ConfigurationError):
        InMemoryTransport(plugins=["tf_dotted_plugins.Missing"], load_entrypoints=False)
    with pytest.raises(ConfigurationError):
        InMemoryTransport(plugins=["no_such_module_xyz.Plugin"], load_entrypoints=False)
    with pytest.raises(ConfigurationError):
        InMemoryTransport(plugins=["nodots"], load_entrypoints=False)
    sys.modules.pop("tf_dotted_plugins", None)


@pytest.fixture
def installed_entry_point(tmp_path, monkeypatch):
    """A real (tiny) installed distribution declaring a ``twofactor_notify`` entry point."""
    (tmp_path / "tf_ep_plugin.py").write_text(
        textwrap.dedent("""
        from twofactor_notify import hookimpl

        sent = []

        @hookimpl
        def after_send(message, receipt, error, transport):
            sent.append(message.to)
    """)
    )
    dist = tmp_path / "tf_ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tf-ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[twofactor_notify]\nauditor = tf_ep_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("tf_ep_plugin", None)


def test_entry_point_autoload_on_and_off(installed_entry_point, monkeypatch):
    on = InMemoryTransport(load_entrypoints=True)
    assert on.plugin_manager.get_plugin("auditor") is not None
    on.send_otp(A)
    import tf_ep_plugin

    assert tf_ep_plugin.sent == [E164]
    off = InMemoryTransport(load_entrypoints=False)
    assert off.plugin_manager.get_plugin("auditor") is None
    # None follows the environment variable (the suite's conftest sets it)
    monkeypatch.setenv("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert make_plugin_manager(load_entrypoints=None).get_plugin("auditor") is None
    monkeypatch.delenv("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD")
    assert make_plugin_manager(load_entrypoints=None).get_plugin("auditor") is not None


def test_same_plugin_object_registered_once():
    plugin = RecordingPlugin()
    transport = InMemoryTransport(plugins=[plugin, plugin], load_entrypoints=False)
    transport.send_otp(A)
    assert len(plugin.before) == 1


# --------------------------------------------------------------------------- in-memory


def test_in_memory_verify_semantics():
    transport = InMemoryTransport(load_entrypoints=False, otp_ttl=0.1)
    first = transport.send_otp("+91 98765 43210")
    otp = transport.last_otp(A)
    assert otp is not None and len(otp) == 6 and first.otp is None
    wrong = "000000" if otp != "000000" else "111111"
    assert transport.verify_otp(wrong, session_id=first.session_id).outcome is (
        VerificationOutcome.MISMATCH
    )
    assert transport.verify_otp(otp, session_id=first.session_id).matched
    assert transport.verify_otp(otp, session_id=first.session_id).outcome is (
        VerificationOutcome.EXPIRED
    )  # single use: a used code is "OTP Expired", as 2Factor answers
    four = transport.send_otp(A, length=4)
    assert len(transport.last_otp("0919876543210")) == 4
    assert transport.verify_otp(transport.last_otp(A), phone="+919876543210")
    assert not four.otp
    shown = transport.send_otp(A, include_otp=True)
    assert shown.otp == transport.last_otp(A)
    time.sleep(0.15)
    assert transport.verify_otp(shown.otp, phone=A).outcome is VerificationOutcome.EXPIRED
    assert transport.verify_otp("1234", session_id="nope").outcome is (
        VerificationOutcome.UNKNOWN_SESSION
    )
    assert len(transport.outbox) == 3
    transport.clear()
    assert transport.outbox == [] and transport.last_otp(A) is None


def test_in_memory_outbox_holds_messages_after_before_send():
    class Rewrite:
        @hookimpl
        def before_send(self, message, transport):
            if isinstance(message, SMSMessage):
                return dataclasses.replace(message, text=message.text + " -- STOP to opt out")
            return None

    transport = InMemoryTransport(plugins=[Rewrite()], load_entrypoints=False)
    when = datetime.now(UTC) + timedelta(hours=1)
    transport.send_sms(A, "Sale", sender="SHOPIN", promotional=True, schedule_at=when)
    (message,) = transport.outbox
    assert message.text == "Sale -- STOP to opt out"
    assert message.promotional and message.schedule_at == when


def test_null_transport_accepts_and_never_verifies():
    transport = NullTransport(load_entrypoints=False)
    sent = transport.send_otp(A, otp="4829")
    assert sent.to == E164
    assert not transport.verify_otp("4829", session_id=sent.session_id)
    assert repr(transport) == "NullTransport()"


@pytest.mark.parametrize("show", [False, True])
def test_console_masks_the_otp(show):
    stream = io.StringIO()
    transport = ConsoleTransport(stream=stream, show_otp=show, load_entrypoints=False)
    transport.send_otp(A, otp="482913", template="Login")
    transport.send_otp("9123456780")
    generated = transport.last_otp("9123456780")
    transport.send_sms(A, "Hello there", sender="TFACTR")
    transport.send_bulk([BulkMessage(to=A, text="bulk text", sender="TFACTR")])
    out = stream.getvalue()
    assert ("482913" in out) is show
    assert (generated in out) is show
    if not show:
        assert "******" in out
    assert "Hello there" in out and "bulk text" in out and "Login" in out
    assert "+919876543210" in out


def test_twofactor_transport_verify_and_close(emulator, make_client):
    client = make_client()
    transport = TwoFactorTransport(client, load_entrypoints=False)
    sent = transport.send_otp(A, otp="4829")
    assert transport.verify_otp("4829", phone="+91 98765 43210")
    assert not transport.verify_otp("4829", session_id=sent.session_id)
    assert emulator.api_key not in repr(transport)
    with transport:
        pass
    with pytest.raises(ConfigurationError):
        client.send_otp(A)


def test_the_default_sender_fills_empty_bulk_senders() -> None:
    from twofactor_notify import BulkMessage, InMemoryTransport

    transport = InMemoryTransport(default_sender="MYBRND", load_entrypoints=False)
    result = transport.send_bulk(
        [
            BulkMessage(to="+919876543210", text="a", sender=""),
            BulkMessage(to="+919876543211", text="b", sender="OTHERS"),
        ]
    )
    assert len(result.accepted) == 2
    (batch,) = transport.outbox
    assert [m.sender for m in batch.messages] == ["MYBRND", "OTHERS"]


# --------------------------------------------------------------------------- isolation


class _RaisingFirst:
    @hookimpl(tryfirst=True)
    def after_send(self, message, receipt, error, transport):
        raise RuntimeError(f"after_send broke on {message.recipients}")

    @hookimpl(tryfirst=True)
    def on_delivery(self, report, transport):
        raise RuntimeError(f"on_delivery broke on {report}")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_raising_plugin_stops_no_other_on_every_transport_and_send(make_transport, kind, caplog):
    caplog.set_level(logging.ERROR)
    before, after = RecordingPlugin(), RecordingPlugin()
    transport = make_transport(
        kind, plugins=[before, _RaisingFirst(), after], default_sender="TFACTR"
    )
    transport.send_otp(A, otp="4829")
    transport.send_sms(A, "hello")
    transport.send_bulk([BulkMessage(to=A, text="x", sender="TFACTR")])
    transport.handle_report(
        DeliveryReport(message_id="m", status=DeliveryStatus.DELIVERED, raw_status="DELIVERED")
    )
    for plugin in (before, after):
        assert len(plugin.after) == 3
        assert len(plugin.reports) == 1
    assert caplog.text.count("RuntimeError") == 4
    assert "broke" not in caplog.text and A not in caplog.text
