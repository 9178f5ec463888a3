"""Transport options: one documented set, checked once, and the one builder of transports.

Every adapter (the Django app, the Flask extension, the django-otp device, a background
worker) maps its own setting names onto the plain options below and calls
:func:`build_transport`; none builds a :class:`~twofactor_notify.client.TwoFactorClient`
itself, so they accept the same values and refuse the same mistakes::

    from twofactor_notify import build_transport

    transport = build_transport({"backend": "2factor", "api_key": key, "sender_id": "TFACTR"})

==================== ====================== ==================================================
option               default                accepted values
==================== ====================== ==================================================
``backend``          ``"2factor"``          ``"2factor"`` (or ``"twofactor"``), ``"console"``,
                                            ``"memory"`` (or ``"locmem"``), ``"file"``,
                                            ``"null"`` (or ``"dummy"``)
``api_key``          ``None``               the 2Factor API key; required by ``2factor``
``secret_key``       ``None``               the Secret-Key of the encrypted endpoints
``base_url``         ``https://2factor.in`` an absolute ``http://`` or ``https://`` URL
``timeout``          ``10.0``               seconds > 0, or a ``(connect, read)`` pair
``region``           ``"IN"``               a region code libphonenumber knows
``rate_limit``       ``None``               requests per second > 0, or ``None``
``encryption_mode``  ``"GCM"``              ``"GCM"`` or ``"CBC"``
``sender_id``        ``None``               a DLT sender id: 1 to 6 letters or digits
``otp_template``     ``None``               a template name (letters, digits, ``-``, ``_``)
``otp_length``       ``6``                  ``4`` or ``6``
``plugins``          ``()``                 plugin objects or dotted paths (text: comma-
                                            separated)
``load_entrypoints`` ``None``               a boolean, or ``None`` (the environment decides)
``show_otp``         ``False``              a boolean (console and file backends)
``file_path``        ``None``               a directory path; required by ``file``
==================== ====================== ==================================================

The checks are the ones a send makes (:mod:`twofactor_notify.validation`), run once at
start-up instead of failing every send. Values may also be the text an environment variable
holds (``"2.5"``, ``"true"``), and an int where a sender id or template name is expected
(``app.config.from_prefixed_env()`` turns ``123456`` into one) counts as its digits.
Every error is a :class:`~twofactor_notify.errors.ConfigurationError` whose ``key`` names
the setting as the caller spells it (``key_name``); no message repeats a value.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import phonenumbers
import pluggy

from .credentials import Secret
from .errors import ConfigurationError, InvalidInputError
from .hooks import load_plugin, make_plugin_manager
from .transport import (
    ConsoleTransport,
    FileTransport,
    InMemoryTransport,
    NullTransport,
    Transport,
    TwoFactorTransport,
)
from .validation import (
    validate_api_key,
    validate_base_url,
    validate_otp_length,
    validate_sender,
    validate_template,
    validate_timeout,
)

__all__ = [
    "BACKENDS",
    "BACKEND_ALIASES",
    "OPTIONS",
    "Backend",
    "ConfigurationWarning",
    "KeyName",
    "Option",
    "TransportOptions",
    "build_transport",
    "check_all_options",
    "check_options",
    "option_errors",
    "parse_bool",
    "parse_optional_bool",
    "parse_positive_number",
    "parse_text",
    "parse_whole_number",
    "strip_traceback",
    "unknown_options",
]

Backend = Literal["2factor", "console", "memory", "file", "null"]
#: The backends :func:`build_transport` knows, by their canonical names.
BACKENDS: tuple[Backend, ...] = ("2factor", "console", "memory", "file", "null")
#: Other spellings accepted for a backend (the Django app's names among them).
BACKEND_ALIASES: Mapping[str, Backend] = {
    "twofactor": "2factor",
    "locmem": "memory",
    "dummy": "null",
}

#: How an adapter spells an option in its own settings (``"timeout"`` -> ``"TWOFACTOR_TIMEOUT"``).
KeyName = Callable[[str], str]

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_ENCRYPTION_MODES = ("GCM", "CBC")


class ConfigurationWarning(UserWarning):
    """A setting was ignored: an unknown key (most likely a typo of a known one)."""


_E = TypeVar("_E", bound=BaseException)


def strip_traceback(error: _E) -> _E:
    """``error`` without its traceback and chain, ready to be raised again.

    A configuration error is raised near the settings it names; an error reporter records
    every frame's local variables, and those frames hold the whole configuration, API key
    included. Raising the stripped error keeps them out of its report.
    """
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error


def _plain(name: str) -> str:
    return name


def _error(key: str, expected: str) -> ConfigurationError:
    return ConfigurationError(f"{key} must be {expected}", key=key)


# ---------------------------------------------------------------------- value parsers
# Public: the adapters check their own keys (a login limit, a flag) with the same rules.


def parse_bool(value: object, key: str) -> bool:
    """``True``/``False``; also ``1``/``0`` and the text ``"true"``/``"false"``/``"1"``/``"0"``.

    Anything else (``"no"``, ``"off"``, ``2``) is refused rather than read by truthiness,
    where ``"no"`` would mean true.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _error(key, "a boolean (True or False; 'true' or 'false' in the environment)")


def parse_optional_bool(value: object, key: str) -> bool | None:
    """``None`` (or an empty string), else :func:`parse_bool`."""
    if value is None or value == "":
        return None
    return parse_bool(value, key)


def parse_positive_number(value: object, key: str) -> float:
    """A finite number > 0, given as a number or its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _error(key, "a number greater than 0")
    try:
        number = float(value)
    except ValueError:
        raise _error(key, "a number greater than 0") from None
    if not (number > 0 and math.isfinite(number)):
        raise _error(key, "a finite number greater than 0")
    return number


def parse_whole_number(value: object, key: str, *, minimum: int = 1) -> int:
    """A whole number ``>= minimum``, given as an int, a whole float or its digits."""
    expected = f"a whole number of at least {minimum}"
    if isinstance(value, bool):
        raise _error(key, expected)
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise _error(key, expected)
        value = int(text)
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise _error(key, expected)
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise _error(key, expected)
    return value


def parse_text(value: object, key: str) -> str | None:
    """A non-empty string, or ``None`` for ``None``/``""``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _error(key, "a string")
    return value


def _digits_as_text(value: object) -> object:
    # from_prefixed_env() parses FLASK_TWOFACTOR_SENDER_ID=123456 as JSON: the int meant text
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


def _validated(check: Callable[[object], str], value: object, key: str) -> str | None:
    text = parse_text(_digits_as_text(value), key)
    if text is None:
        return None
    try:
        return check(text)
    except InvalidInputError as exc:
        raise ConfigurationError(f"{key} is malformed: {exc.message}", key=key) from None


def _backend(value: object, key: str) -> Backend:
    text = value.strip().lower() if isinstance(value, str) else value
    text = BACKEND_ALIASES.get(text, text) if isinstance(text, str) else text
    for backend in BACKENDS:
        if text == backend:
            return backend
    raise _error(key, "one of " + ", ".join(repr(b) for b in (*BACKENDS, *BACKEND_ALIASES)))


def _api_key(value: object, key: str) -> Secret | None:
    held = Secret.wrap(value)  # from here on the value is held, never a bare local
    if held is None:
        return None
    try:
        return Secret(validate_api_key(held.reveal()))
    except InvalidInputError:
        # the value is a secret: name the key and the expected form only
        raise _error(key, "the 2Factor API key (letters, digits and '-', 8 to 128)") from None


def _secret_key(value: object, key: str) -> Secret | None:
    held = Secret.wrap(value)
    if held is not None and not isinstance(held.reveal(), str):
        raise _error(key, "a string")
    return held


def _base_url(value: object, key: str) -> str:
    try:
        return validate_base_url(value, field=key)
    except InvalidInputError as exc:
        raise ConfigurationError(exc.message, key=key) from None


def _timeout(value: object, key: str) -> float | tuple[float, float]:
    try:
        return validate_timeout(value, field=key)
    except InvalidInputError as exc:
        raise ConfigurationError(exc.message, key=key) from None


def _region(value: object, key: str) -> str:
    if isinstance(value, str) and value.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return value.strip().upper()
    raise _error(key, "a two-letter region code libphonenumber knows, such as 'IN'")


def _rate_limit(value: object, key: str) -> float | None:
    if value is None or value == "":
        return None
    return parse_positive_number(value, key)


def _encryption_mode(value: object, key: str) -> Literal["GCM", "CBC"]:
    text = value.strip().upper() if isinstance(value, str) else value
    if text == "GCM":
        return "GCM"
    if text == "CBC":
        return "CBC"
    raise _error(key, "'GCM' or 'CBC'")


def _otp_length(value: object, key: str) -> int:
    expected = "4 or 6 (the lengths 2Factor generates)"
    try:
        return validate_otp_length(parse_whole_number(value, key))
    except (ConfigurationError, InvalidInputError):
        raise _error(key, expected) from None


def _plugins(value: object, key: str) -> tuple[object, ...]:
    if value is None or value == "":
        return ()
    items: Iterable[object]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise _error(key, "a list of plugin objects or dotted paths")
    loaded: list[object] = []
    for spec in items:
        if spec is None:
            raise _error(key, "a list of plugin objects or dotted paths (it holds None)")
        try:
            loaded.append(load_plugin(spec))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{key} could not be loaded: {exc.message}", key=key) from None
    try:  # hook names and signatures are checked when a plugin is registered
        make_plugin_manager(loaded, load_entrypoints=False)
    except (ConfigurationError, pluggy.PluginValidationError) as exc:
        detail = exc.message if isinstance(exc, ConfigurationError) else str(exc)
        raise ConfigurationError(f"{key} could not be loaded: {detail}", key=key) from None
    return tuple(loaded)


def _file_path(value: object, key: str) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | os.PathLike):
        raise _error(key, "a directory path (a string or a pathlib.Path)")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise _error(key, "a directory (it names a file)")
    return path


@dataclass(frozen=True, slots=True)
class Option:
    """One transport option: its name, default, what it accepts, and its parser."""

    name: str
    default: object
    doc: str
    parse: Callable[[object, str], object] = field(repr=False)


#: Every option :func:`build_transport` takes, in documentation order.
OPTIONS: Mapping[str, Option] = {
    option.name: option
    for option in (
        Option("backend", "2factor", "where messages go: " + ", ".join(BACKENDS), _backend),
        Option("api_key", None, "the 2Factor API key (required by '2factor')", _api_key),
        Option("secret_key", None, "the Secret-Key of the encrypted endpoints", _secret_key),
        Option("base_url", "https://2factor.in", "2Factor's (or the emulator's) URL", _base_url),
        Option("timeout", 10.0, "seconds, or a (connect, read) pair", _timeout),
        Option("region", "IN", "region of numbers typed without a country code", _region),
        Option("rate_limit", None, "requests per second this process makes", _rate_limit),
        Option("encryption_mode", "GCM", "'GCM' or 'CBC' (encrypted endpoints)", _encryption_mode),
        Option(
            "sender_id",
            None,
            "default DLT sender id",
            lambda v, k: _validated(validate_sender, v, k),
        ),
        Option(
            "otp_template",
            None,
            "default OTP template",
            lambda v, k: _validated(validate_template, v, k),
        ),
        Option("otp_length", 6, "digits of a generated OTP: 4 or 6", _otp_length),
        Option("plugins", (), "plugin objects or dotted paths", _plugins),
        Option("load_entrypoints", None, "load entry-point plugins", parse_optional_bool),
        Option("show_otp", False, "console/file backends print OTPs unmasked", parse_bool),
        Option("file_path", None, "directory of the file backend", _file_path),
    )
}


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Checked options (see :data:`OPTIONS`).

    Build one with :func:`check_options`; pass it to :func:`build_transport`. ``api_key``
    and ``secret_key`` are held in :class:`~twofactor_notify.credentials.Secret` objects
    (a plain string given here is wrapped in one), so neither ``repr``, ``vars`` nor a
    serialiser shows them; :meth:`~twofactor_notify.credentials.Secret.reveal` gives the
    value.
    """

    backend: Backend = "2factor"
    api_key: Secret | None = field(default=None, repr=False)
    secret_key: Secret | None = field(default=None, repr=False)
    base_url: str = "https://2factor.in"
    timeout: float | tuple[float, float] = 10.0
    region: str = "IN"
    rate_limit: float | None = None
    encryption_mode: Literal["GCM", "CBC"] = "GCM"
    sender_id: str | None = None
    otp_template: str | None = None
    otp_length: int = 6
    plugins: tuple[object, ...] = ()
    load_entrypoints: bool | None = None
    show_otp: bool = False
    file_path: Path | None = None

    def __post_init__(self) -> None:
        # a plain string (TransportOptions(api_key="..."), dataclasses.replace) is held too
        for name in _SECRET_OPTIONS:
            object.__setattr__(self, name, Secret.wrap(getattr(self, name)))


#: The options whose values are secrets: held in a :class:`Secret` once checked.
_SECRET_OPTIONS = ("api_key", "secret_key")


def _check(
    options: Mapping[str, object], key_name: KeyName
) -> tuple[dict[str, Any], list[ConfigurationError]]:
    values: dict[str, Any] = {}
    errors: list[ConfigurationError] = []
    for name, option in OPTIONS.items():
        raw = options.get(name, option.default)
        try:
            values[name] = option.parse(raw, key_name(name))
        except ConfigurationError as exc:
            errors.append(strip_traceback(exc))
    backend = values.get("backend")
    if backend == "2factor" and "api_key" in values and values["api_key"] is None:
        key = key_name("api_key")
        errors.append(
            ConfigurationError(
                f"{key} is required by the 2factor backend "
                "(or choose 'console' or 'memory' in development)",
                key=key,
            )
        )
    if backend == "file" and "file_path" in values and values["file_path"] is None:
        key = key_name("file_path")
        errors.append(ConfigurationError(f"{key} is required by the file backend", key=key))
    return values, errors


def unknown_options(options: Mapping[str, object]) -> tuple[str, ...]:
    """The keys of ``options`` that are not in :data:`OPTIONS`, sorted."""
    return tuple(sorted(str(k) for k in options if k not in OPTIONS))


def check_all_options(
    options: Mapping[str, object], *, key_name: KeyName = _plain
) -> tuple[TransportOptions | None, list[ConfigurationError]]:
    """The checked options and every problem found: ``(None, errors)`` or ``(options, [])``.

    For a caller that reports every problem at once (the Django system checks); each plugin
    named by a dotted path is loaded once.
    """
    values, errors = _check(options, key_name)
    return (None, errors) if errors else (TransportOptions(**values), [])


def option_errors(
    options: Mapping[str, object], *, key_name: KeyName = _plain
) -> list[ConfigurationError]:
    """Every problem of ``options``, one :class:`ConfigurationError` per key (none: valid)."""
    return _check(options, key_name)[1]


def check_options(
    options: Mapping[str, object] | TransportOptions, *, key_name: KeyName = _plain
) -> TransportOptions:
    """Check ``options`` (missing ones take their defaults) and return them cleaned.

    :param key_name: how the caller spells an option, for the error messages.
    :raises ConfigurationError: for the first malformed option; ``key`` names it.
    :warns ConfigurationWarning: naming keys that are not options (typos).
    """
    if isinstance(options, TransportOptions):
        return options
    if not isinstance(options, Mapping):
        raise ConfigurationError("transport options must be a mapping of option names")
    unknown = unknown_options(options)
    if unknown:
        warnings.warn(
            f"unknown transport options ignored: {', '.join(unknown)} "
            f"(known: {', '.join(OPTIONS)})",
            ConfigurationWarning,
            stacklevel=2,
        )
    values, errors = _check(options, key_name)
    if errors:
        error = errors[0]
        del options, values, errors  # no setting (an API key) in the frame it leaves
        raise error
    return TransportOptions(**values)


_CLASSES: Mapping[Backend, type[Transport]] = {
    "2factor": TwoFactorTransport,
    "console": ConsoleTransport,
    "memory": InMemoryTransport,
    "file": FileTransport,
    "null": NullTransport,
}


def build_transport(
    options: Mapping[str, object] | TransportOptions,
    *,
    key_name: KeyName = _plain,
    transport_class: type[Transport] | None = None,
    **transport_kwargs: Any,
) -> Transport:
    """Check ``options`` (see :data:`OPTIONS`) and build the transport they describe.

    This is the one public way to turn configuration into a transport; the framework
    adapters call it with their settings mapped onto the option names.

    :param key_name: how the caller spells an option, for the error messages.
    :param transport_class: a subclass of the backend's class to build instead (the Django
        app's locmem backend uses one that also fills ``django_twofactor.outbox``).
    :param transport_kwargs: more keyword arguments for the transport's constructor (the
        console backend's ``stream``, the in-memory backend's ``otp_ttl``).
    :raises ConfigurationError: naming the option (as ``key_name`` spells it) to fix.
    """
    try:
        checked = check_options(options, key_name=key_name)
    except ConfigurationError as exc:
        del options  # no setting (an API key) in the frame the error leaves
        raise strip_traceback(exc) from None
    base = _CLASSES[checked.backend]
    cls = transport_class or base
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigurationError(
            f"transport_class must be a subclass of {base.__name__} for backend "
            f"{checked.backend!r}",
            key=key_name("backend"),
        )
    common: dict[str, Any] = {
        "plugins": checked.plugins,
        "load_entrypoints": checked.load_entrypoints,
        "default_sender": checked.sender_id,
        "default_template": checked.otp_template,
        "region": checked.region,
        **transport_kwargs,
    }
    if checked.backend == "2factor":
        return _two_factor(checked, cls, common, key_name)
    if checked.backend in ("console", "file"):
        common.setdefault("show_otp", checked.show_otp)
    if checked.backend == "file":
        try:
            factory: Any = cls  # FileTransport or a subclass
            transport: Transport = factory(directory=checked.file_path, **common)
            return transport
        except OSError as exc:
            key = key_name("file_path")
            raise ConfigurationError(
                f"{key} cannot be used: {type(exc).__name__}", key=key
            ) from None
    return cls(**common)


def _two_factor(
    checked: TransportOptions, cls: type[Transport], common: dict[str, Any], key_name: KeyName
) -> Transport:
    from .client import TwoFactorClient

    if checked.api_key is None:  # check_options refuses this; a guard for mypy
        raise ConfigurationError(f"{key_name('api_key')} is required", key=key_name("api_key"))
    client = TwoFactorClient(
        checked.api_key,
        base_url=checked.base_url,
        timeout=checked.timeout,
        secret_key=checked.secret_key,
        encryption_mode=checked.encryption_mode,
        region=checked.region,
        rate_limit=checked.rate_limit,
    )
    try:
        factory: Any = cls  # TwoFactorTransport or a subclass
        transport: Transport = factory(client, **common)
        return transport
    except BaseException:
        client.close()
        raise
