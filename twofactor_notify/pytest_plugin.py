"""pytest fixtures for testing code that talks to 2Factor, against the local emulator.

Installed with ``twofactor-notify`` (entry point ``pytest11: twofactor_notify``), so the
fixtures are available in any test suite without a ``conftest.py``:

``twofactor_emulator_server`` (session scope)
    one :class:`~twofactor_notify.emulator.Emulator` started for the whole run.
``twofactor_emulator``
    the same emulator, :meth:`~twofactor_notify.emulator.Emulator.reset` before each test
    (messages, OTP sessions, logs, deliveries, faults and outcome overrides cleared).
``twofactor_client``
    a :class:`~twofactor_notify.client.TwoFactorClient` pointed at it (its API key, URL and
    secret key, 5 s timeout), closed after the test.
``twofactor_transport``
    a :class:`~twofactor_notify.transport.TwoFactorTransport` around that client, without
    entry-point plugins.
``twofactor_last_otp``
    ``otp = twofactor_last_otp("9876543210")``: the OTP last sent to a number (any typed
    form); raises :class:`LookupError` when none was sent.

Example::

    def test_login_sends_otp(twofactor_client, twofactor_last_otp):
        session = twofactor_client.send_otp("+919876543210")
        otp = twofactor_last_otp("9876543210")
        assert twofactor_client.verify_otp(otp, session_id=session.session_id).matched

Point your own settings at ``twofactor_emulator.url`` / ``.api_key`` to exercise your app's
configured client. Nothing is started unless a test asks for one of these fixtures.

Sandbox mode (the reference's "Sandbox / Testing" answers, see
:attr:`~twofactor_notify.emulator.Emulator.sandbox`): mark a test
``@pytest.mark.twofactor_sandbox`` (``twofactor_sandbox(False)`` turns it off again), or set
the ini option ``twofactor_sandbox = true`` (or ``-o twofactor_sandbox=true``) for every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from twofactor_notify.client import TwoFactorClient
    from twofactor_notify.emulator import Emulator
    from twofactor_notify.transport import TwoFactorTransport

__all__ = [
    "twofactor_client",
    "twofactor_emulator",
    "twofactor_emulator_server",
    "twofactor_last_otp",
    "twofactor_transport",
]


SANDBOX_INI = "twofactor_sandbox"
SANDBOX_MARKER = "twofactor_sandbox"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini option ``twofactor_sandbox``."""
    parser.addini(
        SANDBOX_INI,
        type="bool",
        default=False,
        help="run the 2Factor emulator fixtures' default account in sandbox mode",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``twofactor_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        f"{SANDBOX_MARKER}(enabled=True): run this test's twofactor_emulator in sandbox mode "
        "(the 2Factor reference's dummy sandbox answers, nothing delivered)",
    )


def _sandbox_by_default(config: pytest.Config) -> bool:
    try:
        return bool(config.getini(SANDBOX_INI))
    except ValueError:  # the fixtures imported without the plugin: no ini option
        return False


@pytest.fixture(scope="session")
def twofactor_emulator_server(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """One 2Factor emulator for the whole test session (127.0.0.1, a free port); in sandbox
    mode when the ini option ``twofactor_sandbox`` is true."""
    from twofactor_notify.emulator import Emulator

    emulator = Emulator(sandbox=_sandbox_by_default(request.config))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def twofactor_emulator(
    twofactor_emulator_server: Emulator, request: pytest.FixtureRequest
) -> Emulator:
    """The session's emulator, reset for this test (state and settings); in sandbox mode
    when the test is marked ``@pytest.mark.twofactor_sandbox``."""
    twofactor_emulator_server.reset(settings=True)
    marker = request.node.get_closest_marker(SANDBOX_MARKER)
    if marker is not None:
        enabled = marker.args[0] if marker.args else marker.kwargs.get("enabled", True)
        twofactor_emulator_server.sandbox = bool(enabled)
    return twofactor_emulator_server


@pytest.fixture
def twofactor_client(twofactor_emulator: Emulator) -> Iterator[TwoFactorClient]:
    """A ``TwoFactorClient`` for the emulator's default account."""
    from twofactor_notify.client import TwoFactorClient

    client = TwoFactorClient(
        api_key=twofactor_emulator.api_key,
        base_url=twofactor_emulator.url,
        secret_key=twofactor_emulator.secret_key,
        timeout=5,
    )
    try:
        yield client
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()


@pytest.fixture
def twofactor_transport(twofactor_client: TwoFactorClient) -> TwoFactorTransport:
    """A ``TwoFactorTransport`` over :func:`twofactor_client` (no entry-point plugins)."""
    from twofactor_notify.transport import TwoFactorTransport

    return TwoFactorTransport(twofactor_client, load_entrypoints=False)


@pytest.fixture
def twofactor_last_otp(twofactor_emulator: Emulator) -> Callable[[str], str]:
    """A function returning the OTP last sent to a number; ``LookupError`` when none."""

    def last_otp(phone: str) -> str:
        otp = twofactor_emulator.last_otp(phone)
        if otp is None:
            raise LookupError(f"the 2Factor emulator sent no OTP to {phone}")
        return otp

    return last_otp
