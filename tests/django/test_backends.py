"""SMS backends, the process-wide transport and the mail-like helpers."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from django_twofactor import get_transport, send_mass_sms, send_otp, send_sms, verify_otp
from django_twofactor.backends import get_backend, load_backend, locmem
from django_twofactor.backends.dummy import SMSBackend as DummyBackend
from django_twofactor.backends.filebased import SMSBackend as FileBackend
from django_twofactor.backends.locmem import SMSBackend as LocmemBackend
from django_twofactor.backends.twofactor import SMSBackend as TwoFactorBackend
from django_twofactor.conf import get_settings
from django_twofactor.models import MessageKind, MessageStatus, OutgoingMessage
from twofactor_notify import hookimpl
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError, RequestRejectedError, SendRefusedError
from twofactor_notify.models import BulkBatch, BulkMessage, OTPMessage, SMSMessage
from twofactor_notify.transport import ConsoleTransport, NullTransport, TwoFactorTransport

from .conftest import OTHER_PHONE, PHONE, base_settings

pytestmark = pytest.mark.django_db


class Recorder:
    """A core plugin that records what the hooks saw."""

    calls: list[tuple[str, Any]] = []

    @hookimpl
    def after_send(self, message: Any, receipt: Any, error: Any, transport: Any) -> None:
        Recorder.calls.append(("after_send", message))


class Refuser:
    """A plugin that refuses every send."""

    @hookimpl
    def before_send(self, message: Any, transport: Any) -> None:
        raise SendRefusedError("refused by test", reason="test")


@pytest.fixture(autouse=True)
def _reset_recorder() -> None:
    Recorder.calls = []


def test_suite_runs_on_locmem_by_default() -> None:
    # tests/settings.py says "memory"; the pytest plugin switched it to locmem as well
    assert isinstance(get_backend(), LocmemBackend)


def test_locmem_outbox_hooks_and_verification(sms_outbox: list[Any], sms_last_otp: Any) -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(PLUGINS=[f"{__name__}.Recorder"])):
        sent = send_otp("98765 43210")
        assert sms_outbox == [OTPMessage(to=PHONE, template="OTPTest")]
        assert Recorder.calls == [("after_send", sms_outbox[0])]
        code = sms_last_otp(PHONE)
        assert code and not verify_otp("000000" if code != "000000" else "111111", phone=PHONE)
        assert verify_otp(code, session_id=sent.session_id)


def test_send_messages_returns_count() -> None:
    backend = LocmemBackend()
    count = backend.send_messages(
        [
            OTPMessage(to=PHONE),
            SMSMessage(to=(PHONE, OTHER_PHONE), text="hello", sender="TFACTR"),
            BulkBatch(messages=(BulkMessage(to=PHONE, text="a", sender="TFACTR"),) * 3),
        ]
    )
    assert count == 5
    assert len(locmem.outbox) == 3


def test_fail_silently_counts_only_accepted_messages() -> None:
    config = get_settings()
    with override_settings(TWOFACTOR_NOTIFY=base_settings(PLUGINS=[f"{__name__}.Refuser"])):
        config = get_settings()
        loud = LocmemBackend(config=config)
        with pytest.raises(SendRefusedError):
            loud.send_messages([OTPMessage(to=PHONE)])
        quiet = LocmemBackend(config=config, fail_silently=True)
        assert quiet.send_messages([OTPMessage(to=PHONE), OTPMessage(to=PHONE)]) == 0
    row = OutgoingMessage.objects.latest("id")
    assert row.status == MessageStatus.REFUSED and row.error == "SendRefusedError"


def test_console_backend_prints_with_otp_masked(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="console")):
        assert isinstance(get_transport(), ConsoleTransport)
        send_otp(PHONE, otp="482913")
        send_sms(PHONE, "Your order shipped")
    out = capsys.readouterr().out
    assert f"OTP to {PHONE}" in out and "482913" not in out and "******" in out
    assert "Your order shipped" in out


def test_dummy_backend_discards() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="dummy")):
        assert isinstance(get_transport(), NullTransport)
        assert DummyBackend().send_messages([OTPMessage(to=PHONE)]) == 1
        sent = send_otp(PHONE)
        assert not verify_otp("123456", session_id=sent.session_id)
    assert locmem.outbox == []


def test_file_backend_writes_json_lines(tmp_path: Path) -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="file", FILE_PATH=str(tmp_path))):
        backend = get_backend()
        assert isinstance(backend, FileBackend)
        send_otp(PHONE, otp="482913")
        send_sms([PHONE, OTHER_PHONE], "hello")
    (path,) = tmp_path.iterdir()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["otp", "sms"]
    assert lines[0]["otp"] == "******" and lines[0]["to"] == PHONE
    assert SMSMessage.from_dict(lines[1]).to == (PHONE, OTHER_PHONE)


def test_file_backend_without_path_is_a_configuration_error() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="file")):
        with pytest.raises(ConfigurationError):
            get_backend()


def test_2factor_backend_without_api_key_is_a_configuration_error() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="2factor")):
        with pytest.raises(ConfigurationError, match="API_KEY"):
            get_backend()


def test_unknown_backend_is_a_configuration_error() -> None:
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="no.such.Backend")):
        with pytest.raises(ConfigurationError):
            load_backend()


def test_one_transport_per_process_rebuilt_on_setting_change() -> None:
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(get_transport())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(t) for t in seen}) == 1
    first = seen[0]
    with override_settings(TWOFACTOR_NOTIFY=base_settings(BACKEND="dummy")):
        assert get_transport() is not first
    assert get_transport() is not first  # rebuilt again after the override ends
    assert get_transport() is get_transport()


def test_2factor_backend_through_the_emulator(on_emulator: Emulator) -> None:
    backend = get_backend()
    assert isinstance(backend, TwoFactorBackend)
    assert isinstance(backend.transport, TwoFactorTransport)
    sent = send_otp(PHONE)
    code = on_emulator.last_otp(PHONE)
    assert code is not None
    assert verify_otp(code, session_id=sent.session_id)
    sms = send_sms([PHONE, OTHER_PHONE], "Your order shipped")
    assert sms is not None and sms.message_id
    rows = OutgoingMessage.objects.order_by("id")
    assert [(r.kind, r.recipient, r.provider_id) for r in rows] == [
        (MessageKind.OTP, PHONE, sent.session_id),
        (MessageKind.SMS, PHONE, sms.message_id),
        (MessageKind.SMS, OTHER_PHONE, sms.message_id),
    ]
    assert all(r.status == MessageStatus.QUEUED for r in rows)
    assert all(r.text == "" for r in rows)  # STORE_MESSAGE_TEXT is off by default
    assert {m.kind for m in on_emulator.messages()} == {"otp", "transactional"}


def test_send_mass_sms_uses_the_bulk_endpoint(on_emulator: Emulator, settings: Any) -> None:
    settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "STORE_MESSAGE_TEXT": True}
    result = send_mass_sms([(PHONE, "first"), (OTHER_PHONE, "second", "OTHERS")])
    assert result.ok and len(result.accepted) == 2
    assert {m.kind for m in on_emulator.messages()} == {"bulk"}
    rows = list(OutgoingMessage.objects.order_by("id"))
    assert [(r.kind, r.sender, r.text) for r in rows] == [
        (MessageKind.BULK, "TFACTR", "first"),
        (MessageKind.BULK, "OTHERS", "second"),
    ]
    assert [r.provider_id for r in rows] == [a.message_id for a in result.accepted]


def test_send_errors_are_typed_logged_and_optionally_silent(on_emulator: Emulator) -> None:
    on_emulator.inject("status", status=400, times=2)
    with pytest.raises(RequestRejectedError):
        send_sms(PHONE, "hello")
    assert send_sms(PHONE, "hello", fail_silently=True) is None
    assert list(OutgoingMessage.objects.values_list("status", flat=True)) == ["error", "error"]
