"""No frame of a raised error holds a key: every public method, under every fault.

The public API is discovered, not listed: every public method of :class:`TwoFactorClient` and
of every concrete :class:`Transport` subclass is called with arguments built from
:data:`VALUES` (keyed by parameter name; a parameter name the table does not know fails the
test), first without a fault (the arguments must be valid: the call must succeed), then under
each fault of :data:`FAULTS`. The error it raises is walked by :func:`find_secrets`: its chain,
every frame, every local, recursively, for the API key, the Secret-Key and the OTP being
verified, in any encoding.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import inspect
import pkgutil
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

import twofactor_notify
from twofactor_notify import (
    BulkMessage,
    DeliveryReport,
    DeliveryStatus,
    SMSMessage,
    TwoFactorClient,
    TwoFactorError,
)
from twofactor_notify.boundary import from_the_wire
from twofactor_notify.codec import AESCodec
from twofactor_notify.emulator import Emulator
from twofactor_notify.errors import ConfigurationError, DecryptionError
from twofactor_notify.transport import Transport

from ..secret_scan import find_secrets, summarise

SESSION_ID = "7d3c5f0e-2b1a-4c6d-9e8f-0a1b2c3d4e5f"
OTP = "739184"  # the code verify_otp is called with
_FILES = tempfile.mkdtemp(prefix="tfn-boundary-")
atexit.register(shutil.rmtree, _FILES, True)

#: A valid value for every parameter name of the public API.
VALUES: dict[str, Any] = {
    "phone": "9876543210",
    "to": "9876543210",
    "text": "hello",
    "sender": "TFACTR",
    "template": "LOGIN",
    "code": OTP,
    "session_id": SESSION_ID,
    "message": SMSMessage(to=("9876543210",), text="hello", sender="TFACTR"),
    "messages": (BulkMessage(to="9876543210", text="hello", sender="TFACTR"),),
    "sms_date": date(2026, 1, 2),
    "report": DeliveryReport(message_id="m-1", status=DeliveryStatus.DELIVERED),
    "client": None,  # a transport's client: the call's own (see _target)
    "directory": _FILES,
}
#: The optional parameters of ``send_sms`` after ``sender`` (promotional, scheduled, DLT,
#: campaign, short links), which the adapters' ``send_sms`` pass on: left at their default.
SMS_OPTIONS = frozenset(
    {
        "promotional",
        "schedule_at",
        "pe_id",
        "ct_id",
        "campaign_name",
        "campaign_webhook",
        "shorten_urls",
        "shorten_url_webhook",
        "shorten_url_callback",
    }
)
#: Optional parameters the calls leave at their default.
LEFT_AT_DEFAULT = {
    "otp",
    "length",
    "include_otp",
    *SMS_OPTIONS,
    "chunk_size",
    "metadata",
    # constructors
    "plugins",
    "load_entrypoints",
    "plugin_manager",
    "default_sender",
    "default_template",
    "region",
    "otp_ttl",
    "stream",
    "show_otp",
}
#: Optional parameters found in VALUES are passed, except for the methods below, which take
#: "exactly one of" some optional parameters: one call per choice.
CHOICES: dict[str, tuple[frozenset[str], ...]] = {
    "verify_otp": (frozenset({"session_id"}), frozenset({"phone"})),
}


@dataclass(frozen=True)
class Fault:
    """A way for the call to fail: an emulator fault, or no server at all (``refused``)."""

    name: str
    kind: str | None
    params: tuple[tuple[str, Any], ...] = ()

    def aim(self, emulator: Emulator, closed_port: int) -> str:
        """Sets the fault up and returns the URL to send to: ``closed_port``'s for
        ``refused``, else the emulator's, with the fault injected into it."""
        if self.kind is None:
            return f"http://127.0.0.1:{closed_port}"
        emulator.inject(self.kind, **dict(self.params))
        return emulator.url


FAULTS = (
    Fault("refused", None),
    Fault("reset before the body", "reset_before"),
    Fault("reset after processing", "reset_after"),
    Fault("500", "status", (("status", 500),)),
    Fault("503", "status", (("status", 503),)),
    Fault("502 HTML", "html", (("status", 502),)),
    Fault("429", "status", (("status", 429),)),
    Fault("bad JSON", "status", (("status", 200), ("body", "{not json"))),
    Fault("truncated", "truncated"),
    Fault("timeout", "timeout", (("seconds", 2.0),)),
    Fault("key echoed back", "echo"),
)


def _public_methods(cls: type) -> Iterator[str]:
    for name, member in inspect.getmembers(cls):
        if not name.startswith("_") and inspect.isfunction(member):
            yield name


def _import_the_package() -> None:
    """Import every module of the package, so a transport defined anywhere in it is found."""
    for info in pkgutil.walk_packages(twofactor_notify.__path__, "twofactor_notify."):
        if info.name.endswith(".__main__"):
            continue
        with contextlib.suppress(ImportError):  # an optional extra's engine is not installed
            importlib.import_module(info.name)


def _transport_classes() -> list[type[Transport]]:
    _import_the_package()
    found: list[type[Transport]] = []
    pending = list(Transport.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not inspect.isabstract(cls) and cls.__module__.startswith("twofactor_notify"):
            found.append(cls)
    return sorted(set(found), key=lambda c: c.__name__)


def _arguments(
    function: Callable[..., Any],
    chosen: frozenset[str] | None,
    where: str,
    values: dict[str, Any] = VALUES,
) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in list(inspect.signature(function).parameters.values())[1:]:  # no self
        name = parameter.name
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        known = name in values or name in LEFT_AT_DEFAULT
        if not known:
            pytest.fail(f"{where}: no entry for parameter {name!r} in VALUES or LEFT_AT_DEFAULT")
        required = parameter.default is parameter.empty
        if not required and (name not in values if chosen is None else name not in chosen):
            continue
        if name not in values:
            pytest.fail(f"{where}: parameter {name!r} is required but has no value in VALUES")
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and required:
            args.append(values[name])
        else:
            kwargs[name] = values[name]
    return args, kwargs


@dataclass(frozen=True)
class Call:
    """One public method on one kind of object, with one choice of optional arguments."""

    owner: type
    method: str
    chosen: frozenset[str] = frozenset()

    def __str__(self) -> str:
        extra = f"[{','.join(sorted(self.chosen))}]" if self.chosen else ""
        return f"{self.owner.__name__}.{self.method}{extra}"


def _calls() -> list[Call]:
    calls = []
    for owner in [TwoFactorClient, *_transport_classes()]:
        for method in _public_methods(owner):
            for chosen in CHOICES.get(method, (frozenset(),)):
                calls.append(Call(owner, method, chosen))
    return calls


CALLS = _calls()


def _client(url: str, emulator: Emulator, timeout: float = 0.5) -> TwoFactorClient:
    """A client whose timeout the ``timeout`` fault outlasts (0.5 s against 2 s)."""
    return TwoFactorClient(
        emulator.api_key,
        base_url=url,
        secret_key=emulator.secret_key,
        timeout=timeout,
        connect_retries=0,
    )


def _target(call: Call, client: TwoFactorClient) -> Any:
    if call.owner is TwoFactorClient:
        return client
    values = {**VALUES, "client": client}
    args, kwargs = _arguments(call.owner.__init__, None, f"{call.owner.__name__}()", values)
    return call.owner(*args, load_entrypoints=False, **kwargs)


def _invoke(target: Any, call: Call) -> BaseException | None:
    """Run the call (consuming an iterator it returns); the error it raised, if any."""
    method = getattr(target, call.method)
    chosen = call.chosen if call.method in CHOICES else None
    args, kwargs = _arguments(method.__func__, chosen, str(call))
    try:
        result = method(*args, **kwargs)
        if isinstance(result, Iterator):
            list(result)
    except BaseException as exc:
        return exc
    return None


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_the_arguments_table_makes_valid_calls(emulator: Emulator, call: Call) -> None:
    with _client(emulator.url, emulator, timeout=10.0) as client:  # a busy machine is slow
        error = _invoke(_target(call, client), call)
    assert error is None, f"{call} failed without a fault: {error!r}"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_no_frame_of_a_raised_error_holds_a_key(
    emulator: Emulator, closed_port: int, call: Call, fault: Fault
) -> None:
    url = fault.aim(emulator, closed_port)
    # the code verified is the caller's: it stays in the caller's frame, in no frame below
    secrets = {"API key": emulator.api_key, "Secret-Key": emulator.secret_key, "OTP": OTP}
    with _client(url, emulator) as client:
        target = _target(call, client)
        error = _invoke(target, call)
        # Walked while the client is open, as a reporter sees it: the caller's frame holds the
        # object whose method failed, and from it the session, its pool and its connections.
        findings = (
            []
            if error is None
            else find_secrets(error, secrets, stop=_invoke.__code__, also={"target": target})
        )
    emulator.clear_faults()
    if error is None:
        return  # nothing raised (an in-memory transport, close()): nothing to examine
    assert not findings, f"{call} under {fault.name} ({error!r}):\n{summarise(findings)}"
    assert isinstance(error, TwoFactorError), f"{call} raised {error!r}, not a TwoFactorError"


def test_every_public_name_is_reached() -> None:
    """The discovery finds the client and the network transport (a guard on the guard)."""
    names = {str(c) for c in CALLS}
    assert "TwoFactorClient.send_sms" in names
    assert "TwoFactorTransport.send" in names
    assert twofactor_notify.TwoFactorTransport in _transport_classes()


class Interrupted(Exception):
    """What a caller's signal handler raises (the CLI's SIGTERM handler raises its own error)."""


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer (POSIX)")
@pytest.mark.parametrize("raised", [Interrupted, KeyboardInterrupt], ids=lambda t: t.__name__)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_callers_exception_raised_while_the_wire_runs_keeps_its_type_and_no_key(
    emulator: Emulator, call: Call, raised: type[BaseException]
) -> None:
    """A signal handler that raises while a request waits on the socket: the exception is the
    caller's, so it leaves with its type, but without the wire's frames or anything chained,
    through every boundary on its way out (a transport's method calls the client's)."""
    emulator.inject("timeout", seconds=3.0)  # every request waits: the signal lands in the wire
    armed = True

    def handler(signum: int, frame: Any) -> None:
        if armed:
            raise raised("the caller's handler")

    secrets = {"API key": emulator.api_key, "Secret-Key": emulator.secret_key, "OTP": OTP}
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        with _client(emulator.url, emulator, timeout=10.0) as client:
            target = _target(call, client)
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            error = _invoke(target, call)
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            findings = (
                []
                if error is None
                else find_secrets(error, secrets, stop=_invoke.__code__, also={"target": target})
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        emulator.clear_faults()
    if error is None:
        return  # nothing waited on the wire (an in-memory transport, close())
    assert type(error) is raised, f"{call} turned the caller's exception into {error!r}"
    assert not from_the_wire(error), f"{call}: the wire's frames or chain left with {error!r}"
    assert not findings, f"{call}:\n{summarise(findings)}"


# ------------------------------------------------------------------ the holder and the wire layer


def test_a_secret_shows_nothing_and_cannot_be_pickled() -> None:
    import pickle

    from twofactor_notify.credentials import Credentials, Secret

    secret = Secret("abcd-1234-efgh-5678")
    assert repr(secret) == str(secret) == "<redacted>"
    assert secret.reveal() == "abcd-1234-efgh-5678"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    holder = Credentials("abcd-1234-efgh-5678", "S3cret-Key-For-ENC-0123456789ab")
    assert "abcd" not in repr(holder) and "S3cret" not in repr(holder)
    found = find_secrets(RuntimeError(holder), {"key": "abcd-1234-efgh-5678"})
    assert found == []  # not reachable through __dict__ / __slots__


def test_the_keys_reach_the_wire_and_nothing_above_it(emulator: Emulator) -> None:
    import requests

    from twofactor_notify.credentials import API_KEY_PLACEHOLDER, KeyPlacingAdapter

    seen: list[requests.Response] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *a, **k: seen.append(response))
    with TwoFactorClient(emulator.api_key, base_url=emulator.url, session=session) as client:
        sent = client.send_otp("9876543210")  # accepted: the real key went out
        client.send_sms("9876543210", "hello", sender="TFACTR")
    assert sent.session_id
    assert isinstance(session.get_adapter(emulator.url + "/API/"), KeyPlacingAdapter)
    for response in seen:
        assert response.raw is None  # urllib3's response remembers the URL that was sent
        shown = f"{response.url} {response.request.url} {response.request.body!r}"
        assert API_KEY_PLACEHOLDER in shown and emulator.api_key not in shown
    # other requests on an injected session pass through the wrapped adapter untouched
    other = session.get(f"{emulator.url}/__emulator__/messages", timeout=5)
    assert other.status_code == 200 and other.raw is not None
    session.close()


def test_an_echoed_key_is_redacted_before_the_client_reads_it(emulator: Emulator) -> None:
    emulator.inject("echo", times=1)
    with _client(emulator.url, emulator, timeout=10.0) as client:
        error = _invoke(client, Call(TwoFactorClient, "send_sms"))
    assert isinstance(error, TwoFactorError) and error.status == 400
    assert "<redacted>" in (error.details or "")
    assert emulator.api_key not in f"{error} {error!r} {vars(error)}"


def test_a_codec_that_fails_inside_the_wire_layer_leaves_no_trace(emulator: Emulator) -> None:
    """An exception out of the wire stack (here the codec, called once the key is in the
    body) becomes a TwoFactorError naming it, with nothing chained and no keyed frame."""

    class Failing:
        mode = "GCM"

        def encrypt(self, plaintext: bytes) -> str:
            raise ValueError("cannot encrypt this")

        def decrypt(self, token: str) -> bytes:
            raise AssertionError("not reached")

    client = TwoFactorClient(
        emulator.api_key,
        base_url=emulator.url,
        secret_key=emulator.secret_key,
        codec=Failing(),
    )
    with client:
        error = _invoke(client, Call(TwoFactorClient, "send_sms_encrypted"))
    assert type(error) is TwoFactorError
    assert "ValueError: cannot encrypt this" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    secrets = {"API key": emulator.api_key, "Secret-Key": emulator.secret_key}
    assert find_secrets(error, secrets, stop=_invoke.__code__) == []
    assert emulator.requests == []


# ------------------------------------------------------------------ a codec of the caller's


class _HostileCodec:
    """A codec of the caller's that fails the way a careless one does: quoting what it was
    given (the plaintext holds the API key) or its own key, in a library error, in another
    exception, or in an error raised while handling one."""

    mode = "GCM"

    def __init__(self, how: str, secret_key: str) -> None:
        self.how = how
        inner = AESCodec(secret_key)
        # the key kept the way the default codec keeps it: not in an attribute
        self.inner = inner
        self.quote_key = lambda: secret_key.encode().hex()

    def __repr__(self) -> str:
        return f"_HostileCodec({self.how})"

    def encrypt(self, plaintext: bytes) -> str:
        if self.how == "seal: library error quoting the plaintext":
            raise DecryptionError(f"cannot seal {plaintext!r}")
        if self.how == "seal: library error raised while handling one":
            try:
                raise ValueError(plaintext.decode())
            except ValueError:
                raise ConfigurationError("sealing failed")  # noqa: B904 - the point
        if self.how == "seal: other error quoting the plaintext in hex":
            raise ValueError(plaintext.hex())
        return self.inner.encrypt(plaintext)

    def decrypt(self, token: str) -> bytes:
        if self.how == "open: library error quoting the key":
            raise DecryptionError(f"wrong key {self.quote_key()}")
        if self.how == "open: other error quoting the key":
            raise TypeError(f"wrong key {self.quote_key().upper()}")
        return self.inner.decrypt(token)


HOSTILE_CODECS = (
    "seal: library error quoting the plaintext",
    "seal: library error raised while handling one",
    "seal: other error quoting the plaintext in hex",
    "open: library error quoting the key",
    "open: other error quoting the key",
)


@pytest.mark.parametrize("how", HOSTILE_CODECS)
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_failing_codec_of_the_callers_leaves_no_key(
    emulator: Emulator, call: Call, how: str
) -> None:
    secrets = {"API key": emulator.api_key, "Secret-Key": emulator.secret_key}
    codec = _HostileCodec(how, emulator.secret_key)
    client = TwoFactorClient(
        emulator.api_key,
        base_url=emulator.url,
        secret_key=emulator.secret_key,
        codec=codec,
        timeout=10.0,
    )
    with client:
        target = _target(call, client)
        error = _invoke(target, call)
        findings = (
            []
            if error is None
            else find_secrets(error, secrets, stop=_invoke.__code__, also={"target": target})
        )
    if error is None:
        return  # the call does not use the codec
    assert not findings, f"{call} with {how} ({error!r}):\n{summarise(findings)}"
    assert isinstance(error, TwoFactorError), f"{call} raised {error!r}"
    assert error.__cause__ is None and error.__context__ is None


def test_a_failing_codec_is_named_in_the_error(emulator: Emulator) -> None:
    """A guard on the guard: the hostile codecs do fail the encrypted calls, and the error
    says which exception the codec raised."""
    for how, kind, cls in (
        ("seal: other error quoting the plaintext in hex", "ValueError", TwoFactorError),
        ("seal: library error quoting the plaintext", "DecryptionError", TwoFactorError),
        ("open: other error quoting the key", "TypeError", DecryptionError),
    ):
        codec = _HostileCodec(how, emulator.secret_key)
        with TwoFactorClient(
            emulator.api_key,
            base_url=emulator.url,
            secret_key=emulator.secret_key,
            codec=codec,
        ) as client:
            error = _invoke(client, Call(TwoFactorClient, "send_sms_encrypted"))
        assert type(error) is cls and f"{kind}: " in str(error), error
        # the plaintext the codec quoted is shown, its number masked, its key redacted
        if "quoting the plaintext" in how and kind != "ValueError":
            assert "******3210" in str(error) and "<redacted>" in str(error), error
        assert VALUES["phone"] not in str(error)


def test_a_failing_seal_leaves_no_key_in_the_wire_layers_frames() -> None:
    """Below every boundary: the error out of Credentials.place, with its traceback."""
    import requests

    from twofactor_notify.credentials import API_KEY_PLACEHOLDER, Credentials

    api_key, secret_key = "place-test-key-0123456789", "place-test-secret-0123456789"
    credentials = Credentials(api_key, secret_key)

    def seal(plaintext: bytes) -> str:
        raise DecryptionError(f"cannot seal {plaintext!r}")

    request = requests.Request(
        "POST",
        f"http://127.0.0.1:9/API/V1/{API_KEY_PLACEHOLDER}/",
        data=f'{{"apikey":"{API_KEY_PLACEHOLDER}"}}',
        headers={"Secret-Key": "twofactor-notify-secret-key-placeholder"},
        auth=credentials.auth(seal),
    ).prepare()
    with pytest.raises(TwoFactorError) as raised:
        credentials.place(request)
    error = raised.value
    assert "cannot seal" in str(error) and "<redacted>" in str(error)
    assert error.__context__ is None and error.__cause__ is None
    secrets = {"API key": api_key, "Secret-Key": secret_key}
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "place" in frames  # the walk below does look at the wire layer's frame
    stop = test_a_failing_seal_leaves_no_key_in_the_wire_layers_frames.__code__
    assert find_secrets(error, secrets, stop=stop) == []
