"""No configuration object shows a key: not its repr, nor its attributes, a pickle or a copy.

Error reporters record the locals of every frame an error passed through, their reprs and,
for some, their attributes. Frames of an adapter hold its configuration: the core's
``TransportOptions``, the Django app's settings and SMS backends, the Flask extension's state,
the webhook receivers, the django-otp plugin's transport. Each is built here, through the
public factories, for every backend the adapter knows, with known values of the API key,
the Secret-Key and the webhook token, and searched for them the way
:mod:`tests.secret_scan` searches a raised error (``repr``, ``str``, ``__dict__`` and
``__slots__`` walked with no depth limit), and in its pickle, its copies and its JSON.

Which classes hold a secret is discovered, not listed: every class of the library and its
adapters taking or holding an ``api_key``, ``secret_key``, ``webhook_token`` or ``token``,
then every class taking or holding one of those, and so on. Each must be among the objects
built here (or be set aside below, with the reason): a class added later fails this file
until it is built here.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import json
import pickle
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("django")
pytest.importorskip("flask")

import django.conf
from django.test import override_settings
from flask import Config, Flask

import otp_twofactor.conf as otp_conf
from django_twofactor import conf as django_conf
from django_twofactor.backends import get_backend, load_backend
from flask_twofactor import TwoFactor
from flask_twofactor import config as flask_conf
from flask_twofactor.extension import get_state
from tests.django.conftest import base_settings
from tests.secret_scan import find_secrets_in_object, find_secrets_in_text, summarise
from twofactor_notify.cli.receiver import LocalDeliveryReceiver
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.codec import AESCodec
from twofactor_notify.config import BACKENDS, TransportOptions, build_transport, check_options
from twofactor_notify.credentials import Credentials, Secret
from twofactor_notify.transport import Transport
from twofactor_notify.webhooks import WebhookReceiver

pytestmark = pytest.mark.django_db

API_KEY = "cfg-ApiKey-7Qx9Lm2Vb4Np8Rt6"
SECRET_KEY = "cfg-SecretKey-Wz3Yc5Hd0Jf6Gs"
WEBHOOK_TOKEN = "cfg-hook-token-Kq2Wm5Xn7Pv4"
SECRETS = {"API key": API_KEY, "Secret-Key": SECRET_KEY, "webhook token": WEBHOOK_TOKEN}
#: nothing answers here: a transport is built, never used
BASE_URL = "http://127.0.0.1:9"

#: The application's own objects, which hold the keys as the user wrote them (Django's
#: settings, a Flask app and its config): not walked.
APPLICATION_OBJECTS: tuple[type, ...] = (Flask, Config, django.conf.LazySettings)

PACKAGES = ("twofactor_notify", "django_twofactor", "flask_twofactor", "otp_twofactor")
SECRET_NAMES = frozenset({"api_key", "secret_key", "webhook_token", "token"})
#: Classes that take such a name but are not configuration holders, and why.
SET_ASIDE: dict[str, str] = {
    "twofactor_notify.emulator.emulator.Emulator": "the emulator is the server side of a "
    "test double: it holds the keys it accepts, by design",
    "twofactor_notify.emulator.state.Account": "an emulator account (as above)",
    "twofactor_notify.background.ledger.LedgerRecord": "its token is a claim id of the "
    "ledger, not a credential",
    "otp_twofactor.models.TwoFactorSMSDevice": "its token is a keyed hash of a one-time "
    "code (tests/otp check that no code is stored), not a credential",
}


# ------------------------------------------------------------------ discovery


def _modules() -> Iterator[Any]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield root
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            name = info.name
            if ".migrations" in name or name.endswith(("__main__", "pytest_plugin")):
                continue  # schema history; a program's entry; the pytest plugins
            yield importlib.import_module(name)


def _names_and_annotations(cls: type) -> dict[str, str]:
    """What ``cls`` takes and holds: dataclass fields, ``__init__`` parameters, slots."""
    found: dict[str, str] = {}
    if dataclasses.is_dataclass(cls):
        found.update({f.name: str(f.type) for f in dataclasses.fields(cls)})
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        parameters = ()  # type: ignore[assignment]
    for parameter in parameters:
        annotation = parameter.annotation
        shown = "" if annotation is inspect.Parameter.empty else str(annotation)
        found.setdefault(parameter.name, shown)
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            found.setdefault(slot.lstrip("_"), "")
    try:  # attributes set in the class's own code (self._token = ...)
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    for name in _SELF_ATTRIBUTE.findall(source):
        found.setdefault(name, "")
    return found


_SELF_ATTRIBUTE = re.compile(r"\bself\._?([a-z_]+)\s*(?::[^=\n]+)?=(?!=)")


def holders_of_secrets() -> set[type]:
    """Every class that takes or holds a secret, or an object of such a class."""
    classes = {
        cls
        for module in _modules()
        for cls in vars(module).values()
        if inspect.isclass(cls) and cls.__module__ == module.__name__
    }
    holders = {cls for cls in classes if SECRET_NAMES & set(_names_and_annotations(cls))} - {
        cls for cls in classes if f"{cls.__module__}.{cls.__qualname__}" in SET_ASIDE
    }
    while True:  # and the classes holding those, to a fixed point
        names = "|".join(c.__name__ for c in holders)
        pattern = re.compile(rf"\b(?:{names})\b")
        more = {
            cls
            for cls in classes - holders
            if f"{cls.__module__}.{cls.__qualname__}" not in SET_ASIDE
            and any(pattern.search(a) for a in _names_and_annotations(cls).values())
        }
        if not more:
            return holders
        holders |= more


# ------------------------------------------------------------------ the objects


Built = Iterator[tuple[str, object]]


@dataclasses.dataclass
class WithSecrets:
    """An object built here that holds secrets of its own (besides :data:`SECRETS`)."""

    value: object
    secrets: dict[str, str]


def _unwrap(value: object) -> tuple[object, dict[str, str]]:
    if isinstance(value, WithSecrets):
        return value.value, {**SECRETS, **value.secrets}
    return value, SECRETS


def core_objects(stack: ExitStack, tmp_path: Path) -> Built:
    """Every core backend through the builder, its receiver, and the holders built by hand."""
    for backend in BACKENDS:
        options = check_options(
            {
                "backend": backend,
                "api_key": API_KEY,
                "secret_key": SECRET_KEY,
                "base_url": BASE_URL,
                "file_path": tmp_path / "sms",
            }
        )
        transport = stack.enter_context(build_transport(options))
        yield f"TransportOptions({backend})", options
        yield f"build_transport({backend})", transport
        yield f"WebhookReceiver({backend})", WebhookReceiver(transport, WEBHOOK_TOKEN)
    yield (
        "TransportOptions(plain strings)",
        TransportOptions(api_key=API_KEY, secret_key=SECRET_KEY),
    )
    yield (
        "dataclasses.replace(TransportOptions)",
        dataclasses.replace(TransportOptions(), api_key=API_KEY, secret_key=SECRET_KEY),
    )
    client = stack.enter_context(TwoFactorClient(API_KEY, secret_key=SECRET_KEY, base_url=BASE_URL))
    yield "TwoFactorClient", client
    yield "Credentials", Credentials(API_KEY, SECRET_KEY)
    yield "Credentials.auth()", Credentials(API_KEY, SECRET_KEY).auth()
    yield "AESCodec", AESCodec(SECRET_KEY)
    # the command line's demo receiver: its token is its own (random), found by its URL
    receiver = LocalDeliveryReceiver(stack.enter_context(build_transport({"backend": "null"})))
    stack.callback(receiver.stop)
    token = parse_qs(urlsplit(receiver.callback_url).query)["token"][0]
    yield "LocalDeliveryReceiver", WithSecrets(receiver, {"demo receiver token": token})


def django_objects(stack: ExitStack, tmp_path: Path) -> Built:
    """The parsed settings and the SMS backend of every backend name the app knows."""
    for name in django_conf.BACKEND_ALIASES:
        raw = base_settings(
            BACKEND=name,
            API_KEY=API_KEY,
            SECRET_KEY=SECRET_KEY,
            WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            BASE_URL=BASE_URL,
            FILE_PATH=str(tmp_path / "sms"),
        )
        parsed = django_conf.TwoFactorSettings.from_mapping(raw)
        backend = load_backend(parsed)
        stack.callback(backend.close)
        yield f"TwoFactorSettings({name})", parsed
        yield f"SMSBackend({name})", backend
        if name == "2factor":  # the process-wide ones, as the views and the API get them
            stack.enter_context(override_settings(TWOFACTOR_NOTIFY=raw))
            yield "get_settings()", django_conf.get_settings()
            yield "get_backend()", get_backend()


def flask_objects(stack: ExitStack, tmp_path: Path) -> Built:
    """The extension's state for every backend, sending and suppressed."""
    for backend in flask_conf.BACKENDS:
        for suppress in (False, True):
            app = Flask(f"config_secrets_{backend}_{suppress}")
            app.config.update(
                TWOFACTOR_BACKEND=backend,
                TWOFACTOR_SUPPRESS=suppress,
                TWOFACTOR_API_KEY=API_KEY,
                TWOFACTOR_SECRET_KEY=SECRET_KEY,
                TWOFACTOR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                TWOFACTOR_BASE_URL=BASE_URL,
                TWOFACTOR_FILE_PATH=str(tmp_path / "sms"),
                TWOFACTOR_LOAD_ENTRYPOINTS=False,
            )
            extension = TwoFactor(app)
            state = get_state(app)
            stack.callback(state.transport.close)
            yield f"TwoFactor({backend}, suppress={suppress})", extension
            yield f"TwoFactorState({backend}, suppress={suppress})", state
            yield f"app.extensions({backend}, suppress={suppress})", dict(app.extensions)


def otp_objects(stack: ExitStack, tmp_path: Path) -> Built:
    """The django-otp plugin's own transport, and what the module keeps of it."""
    stack.enter_context(
        override_settings(
            OTP_TWOFACTOR_API_KEY=API_KEY,
            OTP_TWOFACTOR_SECRET_KEY=SECRET_KEY,
            OTP_TWOFACTOR_BASE_URL=BASE_URL,
            OTP_TWOFACTOR_NO_DELIVERY=False,
            OTP_TWOFACTOR_TRANSPORT=None,
        )
    )
    stack.callback(otp_conf.reset_transports)
    yield "otp transport options", otp_conf.settings.transport_options()
    yield "otp get_transport()", otp_conf.get_transport()
    yield (
        "otp module state",
        {name: value for name, value in vars(otp_conf).items() if name.startswith("_own")},
    )


ADAPTERS: dict[str, Callable[[ExitStack, Path], Built]] = {
    "core": core_objects,
    "django": django_objects,
    "flask": flask_objects,
    "otp": otp_objects,
}


# ------------------------------------------------------------------ the checks


def _naive_json(value: object) -> object:
    """What a naive serialiser does with an object: its fields, else its attributes, else
    its repr."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    attributes = getattr(value, "__dict__", None)
    return dict(attributes) if isinstance(attributes, dict) else repr(value)


def problems_of(label: str, built: object) -> Iterator[str]:
    """Where ``built`` (its graph, pickle, copies, JSON) shows a secret."""
    value, secrets = _unwrap(built)

    def _shown(text: str) -> list[str]:
        return find_secrets_in_text(text, secrets)

    findings, _ = find_secrets_in_object(value, secrets, opaque=APPLICATION_OBJECTS)
    if findings:
        yield f"{label}: walked\n{summarise(findings)}"
    try:
        pickled = pickle.dumps(value).decode("latin-1")
    except Exception as exc:  # refusing to pickle is fine; the refusal must not quote
        pickled = f"{type(exc).__name__}: {exc}"
    if _shown(pickled):
        yield f"{label}: pickle shows {_shown(pickled)}"
    for make_copy in (copy.copy, copy.deepcopy):
        try:
            duplicate = make_copy(value)
        except Exception as exc:
            if _shown(str(exc)):
                yield f"{label}: {make_copy.__name__} error shows {_shown(str(exc))}"
            continue
        findings, _ = find_secrets_in_object(duplicate, secrets, opaque=APPLICATION_OBJECTS)
        if findings:
            yield f"{label}: {make_copy.__name__}\n{summarise(findings)}"
    try:
        text = json.dumps(value, default=_naive_json)
    except (TypeError, ValueError) as exc:  # a cycle, a key that is not text
        text = f"{type(exc).__name__}: {exc}"
    if _shown(text):
        yield f"{label}: JSON shows {_shown(text)}"


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_no_configuration_object_shows_a_secret(adapter: str, tmp_path: Path) -> None:
    problems: list[str] = []
    with ExitStack() as stack:
        built = list(ADAPTERS[adapter](stack, tmp_path))
        assert built
        for label, value in built:
            problems += problems_of(label, value)
    assert not problems, "\n".join(problems)


def test_every_class_holding_a_secret_is_built_here(tmp_path: Path) -> None:
    holders = holders_of_secrets()
    # the discovery finds what is known to hold one (a check of the discovery itself)
    assert {TransportOptions, TwoFactorClient, WebhookReceiver} <= holders
    assert {django_conf.TwoFactorSettings, flask_conf.TwoFactorConfig} <= holders
    built_types: set[type] = set()
    with ExitStack() as stack:
        for make in ADAPTERS.values():
            for _label, built in make(stack, tmp_path):
                value = _unwrap(built)[0]
                built_types |= find_secrets_in_object(value, {}, opaque=APPLICATION_OBJECTS)[1]
    missing = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in holders
        if not any(issubclass(t, cls) for t in built_types)
    )
    assert not missing, f"build these here (or set them aside, saying why): {missing}"
    transports = {t for t in built_types if issubclass(t, Transport)}
    assert len(transports) >= len(BACKENDS)  # every backend of the builder


def test_a_secret_compares_copies_and_refuses_to_be_pickled_or_serialised() -> None:
    held = Secret(API_KEY)
    assert held.reveal() == API_KEY
    assert held == Secret(API_KEY) and held != Secret(SECRET_KEY)
    # configurations holding secrets still compare by value
    assert check_options({"api_key": API_KEY}) == check_options({"api_key": API_KEY})
    assert check_options({"api_key": API_KEY}) != check_options({"api_key": "another-key-123"})
    assert TransportOptions(api_key=API_KEY).api_key == held
    assert copy.copy(held) is held and copy.deepcopy(held) is held
    assert Secret.wrap(held) is held and Secret.wrap("") is None and Secret.wrap(None) is None
    for show in (repr(held), str(held), f"{held}", f"{held:>40}", f"{held}", "%s" % (held,)):  # noqa: UP031
        assert API_KEY not in show
    with pytest.raises(TypeError) as refused:
        pickle.dumps(held)
    assert API_KEY not in str(refused.value)
    with pytest.raises(TypeError) as refused:
        json.dumps(held)
    assert API_KEY not in str(refused.value)
    with pytest.raises(TypeError):
        vars(held)
