"""Background-sending options, as one plain mapping that the Django and Flask adapters share.

``TWOFACTOR_NOTIFY["BACKGROUND"]`` (Django) and ``app.config["TWOFACTOR_BACKGROUND"]`` (Flask)
hold the same keys:

``ENGINE``
    ``"celery"`` (the only engine of the core; the Django app adds its own). Required.
``QUEUE``
    the Celery queue the send tasks go to (``None``: Celery's default queue).
``LEDGER``
    ``"redis"`` (the default); an adapter may offer others (the Django app's database ledger).
``REDIS_URL``
    the Redis server of the ledger and the throttle, e.g. ``redis://redis:6379/0``. Required
    with the Redis ledger.
``ACCOUNT_RATE_LIMIT``
    requests per second for the whole 2Factor account (default 200; ``None``: no throttle).
    Shared by every worker through ``REDIS_URL``; without a Redis URL, each worker process
    keeps the rate on its own.
``MAX_ATTEMPTS``, ``MAX_RETRY_DELAY``
    the retry policy (default 5 tries, 300 s cap).
``LEASE_SECONDS``
    how long a claim is held before a redelivery may call its worker dead (default 120).
``KEY_PREFIX``
    prefix of every Redis key (default ``"twofactor:"``); one per 2Factor account.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from ..transport import Transport
from .ledger import SendLedger
from .retry import RetryPolicy
from .throttle import DEFAULT_ACCOUNT_RATE, AccountThrottle
from .worker import DEFAULT_LEASE, BackgroundSender

__all__ = ["OPTION_NAMES", "BackgroundOptions", "build_ledger", "build_sender", "check_lease"]

#: Every key the background setting accepts.
OPTION_NAMES = frozenset(
    {
        "ENGINE",
        "LEDGER",
        "QUEUE",
        "REDIS_URL",
        "ACCOUNT_RATE_LIMIT",
        "MAX_ATTEMPTS",
        "MAX_RETRY_DELAY",
        "LEASE_SECONDS",
        "KEY_PREFIX",
    }
)
_KNOWN = OPTION_NAMES


@dataclass(frozen=True, slots=True)
class BackgroundOptions:
    """The parsed options (see the module docstring).

    ``where`` is the setting as the user wrote it (``TWOFACTOR_NOTIFY['BACKGROUND']`` in
    Django, ``TWOFACTOR_BACKGROUND`` in Flask): every error about these options, including
    those :func:`build_ledger` and :func:`build_sender` raise, names the key under it.
    """

    engine: str
    redis_url: str | None
    queue: str | None = None
    ledger: str = "redis"
    account_rate_limit: float | None = DEFAULT_ACCOUNT_RATE
    max_attempts: int = 5
    max_retry_delay: float = 300.0
    lease_seconds: float = DEFAULT_LEASE
    key_prefix: str = "twofactor:"
    where: str = field(default="BACKGROUND", compare=False)

    def key(self, name: str) -> str:
        """How the user spells option ``name``: ``TWOFACTOR_BACKGROUND['LEASE_SECONDS']``."""
        return f"{self.where}[{name!r}]"

    def __repr__(self) -> str:
        # the Redis URL may carry a password
        return f"BackgroundOptions(engine={self.engine!r}, queue={self.queue!r})"

    @classmethod
    def from_mapping(
        cls,
        raw: Mapping[str, Any],
        *,
        where: str = "BACKGROUND",
        engines: tuple[str, ...] = (),
        ledgers: tuple[str, ...] = (),
    ) -> BackgroundOptions:
        """Check and parse ``raw``; :class:`ConfigurationError` naming the key otherwise.

        ``engines`` and ``ledgers`` are the extra engine and ledger names the calling adapter
        provides besides ``celery`` and ``redis``.
        """
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where} must be a dict", key=where)
        unknown = sorted(str(k) for k in raw if k not in _KNOWN)
        if unknown:
            raise ConfigurationError(f"{where} has unknown keys: {', '.join(unknown)}", key=where)
        choices = ("celery", *engines)
        engine = raw.get("ENGINE")
        if engine not in choices:
            raise ConfigurationError(
                f"{where}['ENGINE'] must be one of {', '.join(choices)}", key=f"{where}['ENGINE']"
            )
        ledger_choices = ("redis", *ledgers)
        ledger = raw.get("LEDGER", "redis")
        if ledger not in ledger_choices:
            raise ConfigurationError(
                f"{where}['LEDGER'] must be one of {', '.join(ledger_choices)}",
                key=f"{where}['LEDGER']",
            )
        url = raw.get("REDIS_URL")
        if (url is not None or ledger == "redis") and (
            not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://"))
        ):
            raise ConfigurationError(
                f"{where}['REDIS_URL'] must be a redis://, rediss:// or unix:// URL",
                key=f"{where}['REDIS_URL']",
            )
        if url is not None:
            _check_redis_db(where, url)
        queue = raw.get("QUEUE")
        if queue is not None and (not isinstance(queue, str) or not queue):
            raise ConfigurationError(
                f"{where}['QUEUE'] must be a queue name or None", key=f"{where}['QUEUE']"
            )
        rate = raw.get("ACCOUNT_RATE_LIMIT", DEFAULT_ACCOUNT_RATE)
        if rate is not None:
            rate = _positive(where, "ACCOUNT_RATE_LIMIT", rate)
        attempts = raw.get("MAX_ATTEMPTS", 5)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(
                f"{where}['MAX_ATTEMPTS'] must be a whole number >= 1",
                key=f"{where}['MAX_ATTEMPTS']",
            )
        prefix = raw.get("KEY_PREFIX", "twofactor:")
        if not isinstance(prefix, str) or not prefix:
            # every Redis key would be bare ("ledger:...") and shared with anything else
            raise ConfigurationError(
                f"{where}['KEY_PREFIX'] must be a non-empty string", key=f"{where}['KEY_PREFIX']"
            )
        return cls(
            engine=str(engine),
            redis_url=url,
            queue=queue,
            ledger=str(ledger),
            account_rate_limit=rate,
            max_attempts=attempts,
            max_retry_delay=_positive(where, "MAX_RETRY_DELAY", raw.get("MAX_RETRY_DELAY", 300)),
            lease_seconds=_positive(
                where, "LEASE_SECONDS", raw.get("LEASE_SECONDS", DEFAULT_LEASE)
            ),
            key_prefix=prefix,
            where=where,
        )


def _check_redis_db(where: str, url: str) -> None:
    """The database number of a Redis URL (its path, or ``?db=``) must be a whole number."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError:
        raise ConfigurationError(
            f"{where}['REDIS_URL'] is not a valid URL", key=f"{where}['REDIS_URL']"
        ) from None
    dbs = parse_qs(parts.query).get("db", [])
    if parts.scheme != "unix":
        path = parts.path.strip("/")
        dbs = [path, *dbs] if path else dbs
    for db in dbs:
        if not db.isdigit():
            raise ConfigurationError(
                f"{where}['REDIS_URL'] names database {db!r}: a Redis database is a number "
                "(redis://host:6379/0)",
                key=f"{where}['REDIS_URL']",
            )


def _positive(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(
            f"{where}['{key}'] must be a positive number", key=f"{where}['{key}']"
        )
    if value <= 0:
        raise ConfigurationError(
            f"{where}['{key}'] must be a positive number", key=f"{where}['{key}']"
        )
    return float(value)


def _redis_client(options: BackgroundOptions) -> Any:
    if options.redis_url is None:
        return None
    try:
        import redis
    except ImportError:  # pragma: no cover - the extra is missing
        raise ConfigurationError(
            "background sending with Redis needs the redis package: "
            'pip install "twofactor-notify[celery]"'
        ) from None
    return redis.Redis.from_url(options.redis_url)


def _request_seconds(timeout: object) -> float | None:
    """The longest one request to 2Factor may take (connect + read timeouts), if known."""
    if isinstance(timeout, tuple):
        return float(sum(timeout))
    return float(timeout) if isinstance(timeout, int | float) else None


def check_lease(options: BackgroundOptions, timeout: float | tuple[float, float] | None) -> None:
    """:class:`ConfigurationError` naming ``LEASE_SECONDS`` when the lease is not above
    ``timeout``, the transport's timeout (seconds, or connect and read seconds, added up).

    :func:`build_sender` checks it against the worker's transport; the adapters check it
    against their configured timeout when the app starts (Flask's ``init_app``, Django's
    system check ``django_twofactor.E020``), so the web side refuses it too.
    """
    seconds = _request_seconds(timeout)
    if seconds is not None and options.lease_seconds <= seconds:
        raise ConfigurationError(
            f"{options.key('LEASE_SECONDS')} ({options.lease_seconds:g}) must be above the "
            f"transport's timeout ({seconds:g} s): a claim must outlive the request it covers",
            key=options.key("LEASE_SECONDS"),
        )


def build_ledger(options: BackgroundOptions, *, redis_client: Any = None) -> SendLedger:
    """The Redis ledger the options describe (``REDIS_URL``, ``KEY_PREFIX``): the one every
    worker built by :func:`build_sender` shares, for tools that read it (status, unknowns).
    An adapter's own ledger (the Django database ledger) is built by that adapter."""
    from .redis_ledger import RedisLedger

    if options.ledger != "redis":
        raise ConfigurationError(
            f"the {options.ledger!r} ledger ({options.key('LEDGER')}) is built by the adapter "
            "that provides it",
            key=options.key("LEDGER"),
        )
    client = redis_client if redis_client is not None else _redis_client(options)
    if client is None:
        raise ConfigurationError(
            f"the Redis ledger needs {options.key('REDIS_URL')}", key=options.key("REDIS_URL")
        )
    return RedisLedger(client, prefix=options.key_prefix + "ledger:")


def build_sender(
    transport: Transport,
    options: BackgroundOptions,
    *,
    redis_client: Any = None,
    ledger: SendLedger | None = None,
) -> BackgroundSender:
    """A :class:`BackgroundSender` as the options describe.

    The ledger is ``ledger`` when given (an adapter's own, e.g. the Django database ledger),
    else the Redis ledger. The throttle is shared through Redis when there is a Redis URL,
    else kept per process.
    """
    from .throttle import LocalThrottle, RedisThrottle

    check_lease(options, getattr(getattr(transport, "client", None), "timeout", None))
    if redis_client is None:
        redis_client = _redis_client(options)
    if ledger is None:
        if redis_client is None:
            raise ConfigurationError(
                f"the {options.ledger!r} ledger ({options.key('LEDGER')}) must be given to "
                f"build_sender: there is no {options.key('REDIS_URL')}",
                key=options.key("LEDGER"),
            )
        ledger = build_ledger(options, redis_client=redis_client)
    throttle: AccountThrottle | None = None
    if options.account_rate_limit:
        throttle = (
            RedisThrottle(
                redis_client, rate=options.account_rate_limit, key=options.key_prefix + "throttle"
            )
            if redis_client is not None
            else LocalThrottle(options.account_rate_limit)
        )
    return BackgroundSender(
        transport,
        ledger,
        throttle,
        policy=RetryPolicy(max_attempts=options.max_attempts, max_delay=options.max_retry_delay),
        lease=options.lease_seconds,
    )
