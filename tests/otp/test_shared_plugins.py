"""One set of plugins: TWOFACTOR_NOTIFY's plugins see the device's SMS, however its transport
is configured -- or the system check ``otp_twofactor.W001`` says they will not, and why."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks

from otp_twofactor import conf
from otp_twofactor.errors import ChallengeDeliveryError
from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify import hookimpl
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import SendRefusedError
from twofactor_notify.models import Message
from twofactor_notify.transport import InMemoryTransport, Transport

from .conftest import NUMBER

pytestmark = pytest.mark.django_db


class Recorder:
    """A plugin that remembers every message it was shown (one instance per transport)."""

    instances: list[Recorder] = []

    def __init__(self) -> None:
        self.seen: list[Message] = []
        Recorder.instances.append(self)

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> None:
        self.seen.append(message)


class Guard:
    """A send guard that refuses every SMS."""

    @hookimpl
    def before_send(self, message: Message, transport: Transport) -> None:
        raise SendRefusedError("refused by the guard", reason="test")


@pytest.fixture
def notify_plugins(settings: Any) -> Any:
    """TWOFACTOR_NOTIFY with plugins (by dotted path), sent through the memory backend."""
    Recorder.instances.clear()
    config = copy.deepcopy(django_settings.TWOFACTOR_NOTIFY)

    def use(*plugins: str) -> None:
        settings.TWOFACTOR_NOTIFY = {**config, "PLUGINS": list(plugins)}

    return use


#: Every way the device's transport can be configured, except OTP_TWOFACTOR_TRANSPORT (below).
WAYS = ["OTP_TWOFACTOR_API_KEY", "OTP_TWOFACTOR_NO_DELIVERY", "TWOFACTOR_NOTIFY"]


def _configure(way: str, settings: Any, emulator: Emulator) -> None:
    settings.OTP_TWOFACTOR_TRANSPORT = None
    if way == "OTP_TWOFACTOR_API_KEY":
        settings.OTP_TWOFACTOR_API_KEY = emulator.api_key
        settings.OTP_TWOFACTOR_BASE_URL = emulator.url
    elif way == "OTP_TWOFACTOR_NO_DELIVERY":
        settings.OTP_TWOFACTOR_NO_DELIVERY = True


def test_ways_cover_every_transport_setting() -> None:
    # a new way of configuring the transport must be added to WAYS (or to the check)
    # (the own transport's options, TRANSPORT_KEYS, tune it; only its API key selects it)
    options = set(conf.TRANSPORT_KEYS.values()) - {"OTP_TWOFACTOR_API_KEY"}
    named = {name for name in conf._TRANSPORT_SETTINGS if name not in options}
    assert named == {*WAYS[:2], "OTP_TWOFACTOR_TRANSPORT"}


@pytest.mark.parametrize("way", WAYS)
def test_notify_plugins_see_the_device_sms(
    way: str, settings: Any, twofactor_emulator: Emulator, notify_plugins: Any, make_device: Any
) -> None:
    notify_plugins(f"{__name__}.Recorder")
    _configure(way, settings, twofactor_emulator)
    device: TwoFactorSMSDevice = make_device()

    device.generate_challenge()

    import django_twofactor

    shared = django_twofactor.get_transport()
    (recorder,) = [p for p in shared.plugin_manager.get_plugins() if isinstance(p, Recorder)]
    assert [m.to for m in recorder.seen] == [NUMBER]  # the same instance, so one count
    assert len(Recorder.instances) == 1
    assert _w001() == []


@pytest.mark.parametrize("way", WAYS)
def test_a_notify_guard_refuses_the_device_sms(
    way: str, settings: Any, twofactor_emulator: Emulator, notify_plugins: Any, make_device: Any
) -> None:
    notify_plugins(f"{__name__}.Guard")
    _configure(way, settings, twofactor_emulator)
    device: TwoFactorSMSDevice = make_device()

    with pytest.raises(ChallengeDeliveryError) as caught:
        device.generate_challenge()

    assert isinstance(caught.value.__cause__, SendRefusedError)
    assert twofactor_emulator.messages(NUMBER) == []


def test_plugins_follow_a_changed_twofactor_notify(
    settings: Any, twofactor_emulator: Emulator, notify_plugins: Any, make_device: Any
) -> None:
    _configure("OTP_TWOFACTOR_API_KEY", settings, twofactor_emulator)
    device: TwoFactorSMSDevice = make_device()
    device.generate_challenge()
    assert len(twofactor_emulator.messages(NUMBER)) == 1
    own = conf.get_transport()

    notify_plugins(f"{__name__}.Guard")  # TWOFACTOR_NOTIFY changes: the guard applies now
    settings.OTP_TWOFACTOR_COOLDOWN_DURATION = 0
    with pytest.raises(ChallengeDeliveryError):
        device.generate_challenge()
    assert conf.get_transport() is own  # the same transport, with the new plugins
    assert len(twofactor_emulator.messages(NUMBER)) == 1


def _w001() -> list[Any]:
    return [m for m in run_checks() if m.id == "otp_twofactor.W001"]


def test_check_warns_when_a_transport_of_its_own_bypasses_the_plugins(
    settings: Any, notify_plugins: Any
) -> None:
    notify_plugins(f"{__name__}.Recorder")
    settings.OTP_TWOFACTOR_TRANSPORT = InMemoryTransport(load_entrypoints=False)
    (warning,) = _w001()
    assert "OTP_TWOFACTOR_TRANSPORT" in warning.msg and "plugin_manager=" in warning.hint

    import django_twofactor

    settings.OTP_TWOFACTOR_TRANSPORT = InMemoryTransport(
        plugin_manager=django_twofactor.get_transport().plugin_manager
    )
    assert _w001() == []  # built as the hint says: the plugins apply


@pytest.mark.parametrize("way", WAYS)
def test_check_is_silent_when_the_plugins_apply(
    way: str, settings: Any, twofactor_emulator: Emulator, notify_plugins: Any
) -> None:
    notify_plugins(f"{__name__}.Recorder")
    _configure(way, settings, twofactor_emulator)
    assert _w001() == []


@pytest.mark.parametrize(
    "broken",
    [{"BACKEND": "2factor"}, {"BACKEND": "memory", "TIMEOUT": "soon"}],
    ids=["no-api-key", "malformed"],
)
def test_check_warns_when_twofactor_notify_cannot_run_its_plugins(
    settings: Any, twofactor_emulator: Emulator, make_device: Any, broken: dict[str, Any]
) -> None:
    # django_twofactor has no transport to share: the device still sends with its own key,
    # and the check says that TWOFACTOR_NOTIFY's plugins do not apply
    settings.TWOFACTOR_NOTIFY = {**broken, "PLUGINS": [f"{__name__}.Recorder"]}
    _configure("OTP_TWOFACTOR_API_KEY", settings, twofactor_emulator)
    (warning,) = _w001()
    assert "TWOFACTOR_NOTIFY['PLUGINS']" in warning.msg
    make_device().generate_challenge()
    assert len(twofactor_emulator.messages(NUMBER)) == 1
