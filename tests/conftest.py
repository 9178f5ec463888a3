"""Shared test configuration. Framework-specific fixtures live in each test folder."""

from __future__ import annotations

import os
import socket

import pytest

# Plugins installed in the environment must not change what the suite measures.
os.environ.setdefault("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return int(port)
