"""Shared test configuration. Framework-specific fixtures live in each test folder."""

from __future__ import annotations

import os

# Plugins installed in the environment must not change what the suite measures.
os.environ.setdefault("TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD", "1")
