"""Sentry's own log (``debug=True``) under every public call: no key, code or number.

sentry-sdk's stdlib integration logs, on the ``sentry_sdk.errors`` logger and through its
own handler to stderr, "Adding `sentry-trace` header … to outgoing request to <URL>" for
each HTTP call, and a V1 URL holds the number and the OTP (and, above the socket, would
hold the key). Every public method of the client and of each transport (discovered, as in
``test_secrets_at_the_boundary``) runs in a child process under Sentry with ``debug=True``,
with :func:`twofactor_notify.sentry.install` called as the adapters call it; its stderr and
every record of Sentry's loggers are searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..secret_scan import find_secrets_in_text

pytest.importorskip("sentry_sdk", reason="sentry-sdk is in the test extra")

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "4f1d2c3b-aaaa-4bbb-8ccc-0123456789ab"
SECRET_KEY = "sk-Debug+Secret/Key=42"
PHONE = "9876543210"

_CHILD = """
import json, logging, sys
import sentry_sdk
from sentry_sdk.transport import Transport
from twofactor_notify.emulator import Emulator
from twofactor_notify.sentry import install
from tests.core.test_secrets_at_the_boundary import CALLS, OTP, _client, _invoke, _target

class Dropped(Transport):
    def capture_envelope(self, envelope):
        pass

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append(self.format(record))

when, api_key, secret_key, out = sys.argv[1:5]
if when == "before":
    install()
sentry_sdk.init(
    dsn="http://public@127.0.0.1:9/1", transport=Dropped(), debug=True,
    traces_sample_rate=1.0, send_default_pii=True,
)
if when == "after":
    install()
for name in ("sentry_sdk.errors", "sentry_sdk.envelopes"):
    logging.getLogger(name).addHandler(Keep())
failed = []
with Emulator(api_key=api_key, secret_key=secret_key) as emulator:
    for call in CALLS:
        with sentry_sdk.start_transaction(name=str(call)):
            with _client(emulator.url, emulator, timeout=10.0) as client:
                error = _invoke(_target(call, client), call)
        if error is not None:
            failed.append(f"{call}: {type(error).__name__}")
sentry_sdk.get_client().close()
with open(out, "w") as f:
    json.dump({"records": records, "failed": failed, "otp": OTP,
               "calls": [str(c) for c in CALLS]}, f)
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_sentrys_debug_log_shows_no_key_code_or_number(tmp_path: Path, when: str) -> None:
    """``install()`` before or after ``sentry_sdk.init()``, as an adapter may run either way."""
    out = tmp_path / "records.json"
    env = {**os.environ, "TWOFACTOR_NOTIFY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, when, API_KEY, SECRET_KEY, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(out.read_text())
    assert not result["failed"], result["failed"]
    assert len(result["calls"]) > 5  # the discovery found the API
    records = "\n".join(result["records"])
    # the log this test is about was written, to stderr and as records
    for text in (child.stderr, records):
        assert "to outgoing request to" in text and "/API/V1/" in text
    secrets = {"API key": API_KEY, "Secret-Key": SECRET_KEY, "OTP": result["otp"]}
    for where, text in (("stderr", child.stderr), ("records", records)):
        found = find_secrets_in_text(text, secrets)
        assert not found, f"{where}: {found}"
        assert PHONE not in text, f"{where} shows the full number"
