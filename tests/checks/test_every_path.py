"""Proof that cannot drift: every way to send refuses the same bad input in the same way.

Nothing here is listed by hand. The test discovers, at run time:

* every concrete :class:`~twofactor_notify.transport.Transport` subclass (the core's, and the
  Django backends' own), and their public ``send*`` / ``verify*`` / ``iter_bulk`` methods;
* the same methods of :class:`~twofactor_notify.client.TwoFactorClient`;
* the ``send*`` / ``verify*`` helpers in ``django_twofactor.api.__all__``;
* every concrete ``BaseSMSBackend`` in ``django_twofactor.backends`` (``send_messages``);
* the ``send*`` / ``verify*`` methods of the Flask extension, on an app under ``app.testing``
  (suppressed) and on one sending to the emulator.

Each entry point is called by its parameter names: a field under test goes into the
parameter of that name (``to`` and ``phone`` are the number; a ``**options`` takes any
field of :meth:`Transport.send_sms`), into a :class:`BulkMessage` for bulk parameters, or into
a message object for parameters that take messages. Hypothesis draws the bad values. Every
call must end the same way: raised with the same error class and ``field``, or, for a bulk
send, the message rejected with that field. Nothing may reach the emulator, and nothing may
be logged or recorded as sent. An entry point with a required parameter this file does not
know fails the test, so that it is taught rather than skipped.
"""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("flask")

from django.conf import LazySettings
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import django_twofactor.api as django_api
import django_twofactor.backends as django_backends
from django_twofactor.backends import BaseSMSBackend, locmem, reset_backend
from django_twofactor.conf import get_settings
from django_twofactor.models import OutgoingMessage
from flask_twofactor import TwoFactor
from flask_twofactor.testing import record_messages
from twofactor_notify.client import TwoFactorClient
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import (
    InvalidInputError,
    InvalidPhoneNumberError,
    OTPError,
)
from twofactor_notify.models import (
    BulkBatch,
    BulkMessage,
    BulkResult,
    OTPMessage,
    SMSMessage,
)
from twofactor_notify.transport import InMemoryTransport, Transport

PHONE = "+919876543210"
SENDER = "TFACTR"
VALID: dict[str, Any] = {
    "to": PHONE,
    "phone": PHONE,
    "text": "hello",
    "sender": SENDER,
    "code": "1234",
    "template": "Login",
    "session_id": "abc123",
}
OTP_FIELDS = {f.name for f in fields(OTPMessage)} - {"metadata"}
SMS_FIELDS = {f.name for f in fields(SMSMessage)} - {"metadata"}
BULK_FIELDS = {"to", "text", "sender"}
ENTRY_NAMES = ("send", "verify", "iter_bulk")

# --------------------------------------------------------------------------- bad values

_letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXY#;*/", min_size=1, max_size=8)
_not_str = st.one_of(
    st.integers(), st.binary(max_size=12), st.lists(st.integers(), min_size=1, max_size=3)
)


#: codes that look right once converted or trimmed: nothing is converted, they are refused
ODD_CODES = st.one_of(
    st.builds(
        lambda code, pad: pad[0] + code + pad[1],
        st.text(alphabet="0123456789", min_size=4, max_size=6),
        st.sampled_from([("", "\n"), (" ", ""), ("\t", " "), ("", "\r\n")]),
    ),
    st.sampled_from(["\ud800", "\uff14\uff15\uff16\uff17", "\u0664\u0665\u0666\u0667"]),
)


def _past() -> st.SearchStrategy[datetime]:
    now = datetime.now(UTC)
    return st.integers(min_value=-10_000, max_value=4).map(lambda m: now + timedelta(minutes=m))


#: field -> (bad values, the error class every path raises, the ``field`` it names)
BAD: dict[str, tuple[st.SearchStrategy[Any], type[InvalidInputError], str]] = {
    "to": (
        st.one_of(
            _not_str,
            st.none(),
            st.builds(lambda tail: PHONE + tail, _letters),  # "+91…x", "+91…ext"
            st.just("+1 202 555 0143x"),
            st.text(alphabet="0123456789", max_size=4),  # too short, or empty
        ),
        InvalidPhoneNumberError,
        "phone",
    ),
    "text": (
        st.one_of(
            st.just(""),
            st.text(alphabet=" \t\n", min_size=1, max_size=5),
            st.text(min_size=1001, max_size=1010).filter(lambda t: len(t) > 1000),
            st.builds(lambda a, b: a + "\ud800" + b, st.text(max_size=5), st.text(max_size=5)),
            _not_str,
            st.none(),
        ),
        InvalidInputError,
        "text",
    ),
    "sender": (
        st.one_of(
            st.text(alphabet="ABCDEFGH", min_size=7, max_size=10),
            st.text(alphabet="-_ ./", min_size=1, max_size=4),
            _not_str,
        ),
        InvalidInputError,
        "sender",
    ),
    "otp": (
        st.one_of(
            st.text(alphabet="0123456789", min_size=1, max_size=3),
            st.text(alphabet="0123456789", min_size=7, max_size=9),
            st.just("../x"),
            st.integers(),
            st.binary(min_size=1, max_size=6),
            ODD_CODES,
        ),
        OTPError,
        "otp",
    ),
    "code": (
        st.one_of(
            st.text(alphabet="0123456789", max_size=3),
            st.just("12/34"),
            st.integers(),
            st.none(),
            st.binary(max_size=6),
            ODD_CODES,
        ),
        OTPError,
        "otp",
    ),
    "template": (
        st.one_of(st.sampled_from(["../x", "a/b", "x?y", "%2e%2e"]), st.integers()),
        InvalidInputError,
        "template",
    ),
    "length": (
        st.one_of(st.integers().filter(lambda n: n not in (0, 4, 6)), st.sampled_from(["6", 6.0])),
        InvalidInputError,
        "length",
    ),
    "session_id": (
        st.one_of(st.sampled_from(["../BAL", "a/b", "x y", ""]), st.integers()),
        InvalidInputError,
        "session_id",
    ),
    "schedule_at": (
        st.one_of(
            _past(),
            st.just("2030-01-01 10:00:00"),
            st.integers(),
            # past year 9999 once in India time: OverflowError unless checked
            st.sampled_from(
                [
                    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                    datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
                ]
            ),
        ),
        InvalidInputError,
        "schedule_at",
    ),
    "pe_id": (st.one_of(st.just("12a"), st.integers()), InvalidInputError, "pe_id"),
    "ct_id": (st.one_of(st.just("x"), st.integers()), InvalidInputError, "ct_id"),
    "promotional": (st.sampled_from(["no", 1, "True"]), InvalidInputError, "promotional"),
    "include_otp": (st.sampled_from(["yes", 1, "False"]), InvalidInputError, "include_otp"),
    "campaign_name": (
        st.one_of(st.just(""), st.text(min_size=101, max_size=110), st.integers(), st.just("\x00")),
        InvalidInputError,
        "campaign_name",
    ),
    # without campaign_name: refused whatever its value, for lack of the campaign
    "campaign_webhook": (
        st.one_of(st.just("https://hooks.test/c"), st.just("/relative"), st.integers()),
        InvalidInputError,
        "campaign_webhook",
    ),
    # without shorten_urls=True: refused whatever its value, naming the missing switch
    "shorten_url_webhook": (
        st.one_of(st.just("https://hooks.test/s"), st.integers()),
        InvalidInputError,
        "shorten_urls",
    ),
    "metadata": (
        st.one_of(
            st.lists(st.integers()),
            st.integers(),
            st.text(),
            # a mapping of what JSON cannot carry: the file transport, the message log and
            # the background envelope all write metadata as JSON
            st.sampled_from(
                [
                    {"s": {1, 2}},
                    {"b": b"x"},
                    {"o": object()},
                    {"t": (1, 2)},
                    {1: "x"},
                    {"f": float("nan")},
                    {"deep": {"x": [{"y": datetime(2030, 1, 1)}]}},
                ]
            ),
        ),
        InvalidInputError,
        "metadata",
    ),
}

# --------------------------------------------------------------------------- entry points


@dataclass
class EntryPoint:
    """One public way to send or verify, discovered at run time."""

    label: str
    func: Callable[..., Any]
    around: Callable[[], Any] | None = None  # a context manager factory (Flask app context)


def _concrete_subclasses(base: type) -> list[type]:
    found, todo = set(), list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not inspect.isabstract(cls):
            found.add(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _public_entry_methods(obj: object) -> Iterator[tuple[str, Callable[..., Any]]]:
    # looked up on the class: reading every attribute of the instance would run properties
    # (the Flask extension's need an app context)
    for name, _ in inspect.getmembers(type(obj), inspect.isfunction):
        if name.startswith(ENTRY_NAMES) and not name.startswith("_"):
            yield name, getattr(obj, name)


def _build(cls: type, known: dict[str, Callable[[], Any]], **kwargs: Any) -> Any:
    """Instantiate ``cls`` giving its required parameters from ``known`` (by name)."""
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in known:
            kwargs[name] = known[name]()
        elif param.default is param.empty:
            pytest.fail(f"teach this test how to build {cls.__qualname__}: {name!r}")
    return cls(**kwargs)


def _import_backend_modules() -> None:
    for info in pkgutil.iter_modules(django_backends.__path__):
        importlib.import_module(f"{django_backends.__name__}.{info.name}")


@dataclass
class World:
    """Everything that could record a send, to prove that nothing did."""

    emulator: Emulator
    entry_points: list[EntryPoint]
    outboxes: list[list[Any]]
    recorded: list[list[Any]]
    files: list[Path]

    def __repr__(self) -> str:
        return f"World({len(self.entry_points)} entry points)"


@pytest.fixture(scope="module")
def own_emulator() -> Iterator[Emulator]:
    """An emulator of this module's own: "nothing reached it" must not be spoilt by a slow
    request another test left in flight on the shared one."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def world(own_emulator: Emulator, settings: LazySettings, tmp_path: Path) -> Iterator[World]:
    emulator = own_emulator
    emulator.reset(settings=True)
    settings.TWOFACTOR_NOTIFY = {
        "BACKEND": "2factor",
        "API_KEY": emulator.api_key,
        "BASE_URL": emulator.url,
        "TIMEOUT": 5,
        "SENDER_ID": SENDER,
        "LOAD_ENTRYPOINTS": False,
        "FILE_PATH": str(tmp_path / "sms"),
        "LOG_MESSAGES": True,
    }
    reset_backend()
    clients: list[TwoFactorClient] = []

    def client() -> TwoFactorClient:
        made = TwoFactorClient(emulator.api_key, base_url=emulator.url, timeout=5)
        clients.append(made)
        return made

    known: dict[str, Callable[[], Any]] = {
        "client": client,
        "stream": io.StringIO,
        "path": lambda: tmp_path / "transport.jsonl",
        "directory": lambda: tmp_path / "transport",
        "config": get_settings,
    }
    entry_points: list[EntryPoint] = []
    locmem.outbox = []  # start empty, whatever tests ran before in this process
    outboxes: list[list[Any]] = [locmem.outbox]
    closers: list[Callable[[], None]] = []

    for cls in _concrete_subclasses(Transport):
        transport = _build(cls, known, default_sender=SENDER, load_entrypoints=False)
        closers.append(transport.close)
        if isinstance(transport, InMemoryTransport):
            outboxes.append(transport.outbox)
        for name, method in _public_entry_methods(transport):
            entry_points.append(EntryPoint(f"{cls.__name__}.{name}", method))

    for name, method in _public_entry_methods(client()):
        entry_points.append(EntryPoint(f"TwoFactorClient.{name}", method))

    for name in django_api.__all__:
        if name.startswith(ENTRY_NAMES):
            entry_points.append(EntryPoint(f"django_twofactor.{name}", getattr(django_api, name)))

    _import_backend_modules()
    for cls in _concrete_subclasses(BaseSMSBackend):
        backend = _build(cls, known)
        closers.append(backend.close)
        if isinstance(backend.transport, InMemoryTransport):
            outboxes.append(backend.transport.outbox)
        for name, method in _public_entry_methods(backend):
            entry_points.append(EntryPoint(f"{cls.__module__}.{cls.__name__}.{name}", method))

    extension = TwoFactor()
    recorded: list[list[Any]] = []
    for label, config in (
        ("flask testing", {"TESTING": True}),
        (
            "flask 2factor",
            {
                "TESTING": False,
                "TWOFACTOR_BACKEND": "2factor",
                "TWOFACTOR_API_KEY": emulator.api_key,
                "TWOFACTOR_BASE_URL": emulator.url,
                "TWOFACTOR_TIMEOUT": 5,
            },
        ),
    ):
        app = Flask(label.replace(" ", "_"))
        app.config.update(
            TWOFACTOR_SENDER_ID=SENDER,
            TWOFACTOR_LOAD_ENTRYPOINTS=False,
            TWOFACTOR_WEBHOOKS=False,
            **config,
        )
        extension.init_app(app)
        closers.append(app.extensions["twofactor"].transport.close)
        state = app.extensions["twofactor"].transport
        if isinstance(state, InMemoryTransport):
            outboxes.append(state.outbox)
        for name, method in _public_entry_methods(extension):
            entry_points.append(EntryPoint(f"{label}: TwoFactor.{name}", method, app.app_context))
        ctx = record_messages(app)
        recorded.append(ctx.__enter__())
        closers.append(lambda ctx=ctx: ctx.__exit__(None, None, None))

    files = [tmp_path / "transport.jsonl", tmp_path / "transport", tmp_path / "sms"]
    yield World(emulator, entry_points, outboxes, recorded, files)
    for close in reversed(closers):
        close()
    for made in clients:
        made.close()
    reset_backend()


# --------------------------------------------------------------------------- calling


def _message_kinds(annotation: object) -> set[str]:
    text = str(annotation)
    kinds = {k for k in ("OTPMessage", "SMSMessage", "BulkBatch") if k in text}
    if not kinds and "Message" in text and "BulkMessage" not in text:
        kinds = {"OTPMessage", "SMSMessage", "BulkBatch"}  # the Message union
    return kinds


def _message_of(kind: str, field: str, bad: Any) -> Any | None:
    if kind == "OTPMessage" and field in OTP_FIELDS:
        return OTPMessage(**{"to": PHONE, field: bad})
    if kind == "SMSMessage" and field in SMS_FIELDS:
        return SMSMessage(**{"to": (PHONE,), "text": "hello", "sender": SENDER, field: bad})
    if kind == "BulkBatch" and field in BULK_FIELDS:
        item = BulkMessage(**{"to": PHONE, "text": "hello", "sender": SENDER, field: bad})
        return BulkBatch(messages=(item,))
    return None


def calls_for(entry: EntryPoint, field: str, bad: Any) -> list[tuple[str, Callable[[], Any]]]:
    """Every way ``entry`` can be given ``bad`` as ``field`` (none if it takes no such field)."""
    params = inspect.signature(entry.func).parameters
    names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_options = any(p.kind is p.VAR_KEYWORD for p in params.values())
    target = {"to": ("to", "phone")}.get(field, (field,))
    direct = next((n for n in target if n in names), None)
    if direct is None and takes_options and field in SMS_FIELDS and "text" in names:
        direct = field  # **options: the fields of Transport.send_sms
    variants: list[tuple[str, dict[str, Any]]] = []
    if direct is not None and not (
        bad is None and direct in params and params[direct].default is None
    ):
        # (None for a parameter whose default is None means "left out", not a bad value)
        variants.append((direct, {direct: bad}))
    for name in names:
        annotation = str(params[name].annotation)
        if "BulkMessage" in annotation and field in BULK_FIELDS:
            item = BulkMessage(**{"to": PHONE, "text": "hello", "sender": SENDER, field: bad})
            variants.append((f"{name}[0].{field}", {name: [item]}))
        elif name.startswith("message") and "BulkMessage" not in annotation:
            for kind in sorted(_message_kinds(annotation)):
                message = _message_of(kind, field, bad)
                if message is not None:
                    many = "Iterable" in annotation
                    variants.append((f"{kind}.{field}", {name: [message] if many else message}))
    calls = []
    for how, chosen in variants:
        kwargs = dict(chosen)
        for name in names:
            param = params[name]
            if name in kwargs or param.default is not param.empty:
                continue
            if name in VALID:
                kwargs[name] = VALID[name]
            else:
                pytest.fail(f"teach this test a valid {name!r} for {entry.label}")
        if {"session_id", "phone"} <= set(names) and not {"session_id", "phone"} & set(kwargs):
            kwargs["phone"] = PHONE  # verify by number unless the field under test says
        calls.append((f"{entry.label}({how})", _call(entry, kwargs)))
    return calls


def _call(entry: EntryPoint, kwargs: dict[str, Any]) -> Callable[[], Any]:
    def run() -> Any:
        if entry.around is None:
            return _drain(entry.func(**kwargs))
        with entry.around():
            return _drain(entry.func(**kwargs))

    return run


def _drain(result: Any) -> Any:
    return list(result) if isinstance(result, Iterator) else result


def outcome(call: Callable[[], Any]) -> tuple[str, str, str | None]:
    """``("raised", class, field)`` or ``("rejected", "", field)``; anything else is wrong."""
    try:
        result = call()
    except InvalidInputError as exc:
        return "raised", type(exc).__name__, exc.field
    except Exception as exc:
        return "raised", type(exc).__name__, f"not a refusal: {exc!r}"[:200]
    results = result if isinstance(result, list) else [result]
    if results and all(isinstance(r, BulkResult) for r in results):
        reasons = [rej.reason for r in results for rej in r.rejected]
        accepted = sum(len(r.accepted) for r in results)
        if len(reasons) == 1 and not accepted:
            return "rejected", "", reasons[0].split(":", 1)[0]
    return "accepted", type(result).__name__, None


# --------------------------------------------------------------------------- the test


def test_the_entry_points_are_found(world: World) -> None:
    labels = " ".join(e.label for e in world.entry_points)
    for expected in (
        "TwoFactorTransport.send_sms",
        "NullTransport.send_otp",
        "ConsoleTransport.send_bulk",
        "LocmemTransport.verify_otp",
        "FileTransport.send",
        "TwoFactorClient.send_message",
        "django_twofactor.send_mass_sms",
        "locmem.SMSBackend.send_messages",
        "dummy.SMSBackend.send_messages",
        "filebased.SMSBackend.send_messages",
        "twofactor.SMSBackend.send_messages",
        "flask testing: TwoFactor.send_bulk",
        "flask 2factor: TwoFactor.verify_otp",
    ):
        assert expected in labels


@pytest.mark.django_db
@pytest.mark.parametrize("field", sorted(BAD))
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_entry_point_refuses_a_bad_field_alike(
    world: World, field: str, data: st.DataObject
) -> None:
    strategy, error, error_field = BAD[field]
    bad = data.draw(strategy, label=field)
    seen: dict[str, tuple[str, str, str | None]] = {}
    for entry in world.entry_points:
        for label, call in calls_for(entry, field, bad):
            seen[label] = outcome(call)
    assert seen, f"no entry point takes {field!r}"
    wrong = {
        label: got
        for label, got in seen.items()
        if got not in (("raised", error.__name__, error_field), ("rejected", "", error_field))
    }
    assert not wrong, f"{field}={bad!r}: expected {error.__name__}(field={error_field!r})"
    # nothing reached 2Factor, nothing was delivered, recorded or logged as sent
    assert world.emulator.requests == []
    assert all(outbox == [] for outbox in world.outboxes)
    assert all(recorded == [] for recorded in world.recorded)
    assert not OutgoingMessage.objects.exists()
    for path in world.files:
        assert not path.exists() or (path.is_dir() and not any(path.iterdir()))


@pytest.mark.django_db
def test_every_field_reaches_single_and_bulk_paths(world: World) -> None:
    """The parametrisation above is not vacuous: each field meets several entry points."""
    for field in BAD:
        bad = object()  # only the calls are built here, none is made
        labels = [label for e in world.entry_points for label, _ in calls_for(e, field, bad)]
        assert len(labels) >= 4, (field, labels)


#: containers no bulk or batch entry point may take: refused once, up front, by name
BAD_CONTAINERS: list[Any] = [
    None,
    42,
    "+919876543210",
    b"+919876543210",
    {"to": PHONE, "text": "hello"},
    [1, 2, 3],
    [{"phone": PHONE, "text": "hello"}],  # a mistyped key
    [BulkMessage(to=PHONE, text="hello", sender=SENDER), "oops"],  # the bad item is last
]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD_CONTAINERS, ids=repr)
def test_a_wrong_container_or_item_type_is_refused_once_before_anything_goes(
    world: World, bad: Any
) -> None:
    seen: dict[str, tuple[str, str, str | None]] = {}
    for entry in world.entry_points:
        params = inspect.signature(entry.func).parameters
        for name, param in params.items():
            if name not in ("messages", "datatuple") or name == "message":
                continue
            kwargs = {name: bad}
            seen[f"{entry.label}({name})"] = outcome(_call(entry, kwargs))
            assert param.default is param.empty or param.default is None
    assert len(seen) >= 10, seen  # every bulk / batch entry point
    wrong = {k: v for k, v in seen.items() if v != ("raised", "InvalidInputError", "messages")}
    assert not wrong
    assert world.emulator.requests == []
    assert all(outbox == [] for outbox in world.outboxes)
    assert not OutgoingMessage.objects.exists()


#: valid numbers of other countries: 2Factor's OTP endpoints refuse them ("Length
#: Mismatch(Expected: 10)"), its SMS endpoints take them
FOREIGN_NUMBERS = st.sampled_from(
    ["+12025550143", "+447911123456", "+61412345678", "+8613800138000", "+1 202 555 0143"]
)


def _otp_endpoint(entry: EntryPoint, how: str) -> bool:
    name = entry.label.rsplit(".", 1)[-1]
    return (
        "otp" in name
        or name == "send_template_sms"
        or how.split("(", 1)[-1].startswith("OTPMessage.")
    )


@pytest.mark.django_db
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(number=FOREIGN_NUMBERS)
def test_every_otp_path_refuses_a_number_2factor_refuses(world: World, number: str) -> None:
    """The OTP endpoints (send and VERIFY3) take Indian numbers only: every transport, test
    double and adapter refuses another country's number as 2Factor does, before sending."""
    seen: dict[str, tuple[str, str, str | None]] = {}
    for entry in world.entry_points:
        for label, call in calls_for(entry, "to", number):
            if _otp_endpoint(entry, label):
                seen[label] = outcome(call)
    assert len(seen) >= 10, seen
    wrong = {k: v for k, v in seen.items() if v != ("raised", "InvalidPhoneNumberError", "phone")}
    assert not wrong
    assert world.emulator.requests == []
    assert all(outbox == [] for outbox in world.outboxes)


def test_the_emulator_refuses_exactly_what_the_otp_check_refuses(own_emulator: Emulator) -> None:
    """The check and the emulator agree: a number the check lets through the emulator
    takes, one it refuses the emulator answers Length Mismatch(Expected: 10)."""
    import requests

    from twofactor_notify.phone import v1_path_form
    from twofactor_notify.validation import validate_otp_phone, validate_phone

    own_emulator.reset(settings=True)
    base = f"{own_emulator.url}/API/V1/{own_emulator.api_key}/SMS"
    for number in ["+919876543210", "09876543210", "+12025550143", "+447911123456", "+61412345678"]:
        try:
            validate_otp_phone(number)
            allowed = True
        except InvalidPhoneNumberError:
            allowed = False
        segment = v1_path_form(validate_phone(number))  # what the client would send
        for path in (f"{segment}/AUTOGEN", f"VERIFY3/{segment}/123456"):
            answer = requests.get(f"{base}/{path}", timeout=5)  # the wire, no library check
            refused = "Length Mismatch(Expected: 10)" in answer.text
            assert refused is not allowed, (number, path, answer.text)


@pytest.mark.django_db
def test_a_mapping_given_for_the_whole_batch_is_named_as_such(world: World) -> None:
    """A dict where an iterable of messages belongs iterates over its keys: the error says
    a mapping was given, not that "item 0 is a str"."""
    seen = 0
    for entry in world.entry_points:
        for name in inspect.signature(entry.func).parameters:
            if name not in ("messages", "datatuple"):
                continue
            with pytest.raises(InvalidInputError) as info:
                _call(entry, {name: {"to": PHONE, "text": "hello", "sender": SENDER}})()
            assert "item 0" not in info.value.message, entry.label
            assert "dict" in info.value.message, entry.label
            seen += 1
    assert seen >= 10
    assert world.emulator.requests == []
