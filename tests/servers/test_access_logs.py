"""The webhook token never reaches an access log, in any spelling of the query parameter:
gunicorn's (Django and Flask apps), werkzeug's development server, Django's runserver."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")
import requests

SECRET = "AccessLogSecret-0123456789-xyz"
REPORT = json.dumps({"SessionId": "s-1", "SmsTo": "9876543210", "SmsStatus": "DELIVERED"})
#: the same parameter as a server decodes it, spelled as a client may send it
QUERIES = [
    f"token={SECRET}",
    f"a=1&token={SECRET}&b=2",
    f"%74oken={SECRET}",
    f"tok%65n={SECRET.replace('-', '%2D')}",
    f"token%3D{SECRET}",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _queries(secret: str) -> list[str]:
    return [q.replace(SECRET, secret) for q in QUERIES]


def _post_all(base: str, secret: str = SECRET) -> list[int]:
    statuses = []
    for query in _queries(secret):
        answer = requests.post(
            f"{base}?{query}",
            data=REPORT,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        statuses.append(answer.status_code)
    header = requests.post(  # the header form, which a custom log format may print
        base,
        data=REPORT,
        headers={"Content-Type": "application/json", "X-TwoFactor-Token": secret},
        timeout=10,
    )
    statuses.append(header.status_code)
    return statuses


@pytest.fixture(params=["flask", "django"])
def gunicorn_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Path, str]]:
    pytest.importorskip("gunicorn")
    port = _free_port()
    log = tmp_path / "access.log"
    env = dict(os.environ, TEST_WEBHOOK_TOKEN=SECRET, DJANGO_SETTINGS_MODULE="tests.settings")
    env["TWOFACTOR_TEST_DATABASE_URL"] = ""  # the 403/200 paths need no database
    app = (
        "tests.servers.flask_app:create_app()"
        if request.param == "flask"
        else "django.core.wsgi:get_wsgi_application()"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log),
            "--access-logformat",
            '%(h)s "%(r)s" %(s)s %(U)s %(q)s %({raw_uri}e)s',
            app,
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(error) from None
                time.sleep(0.1)
        # the Django app runs on tests.settings, whose token is the suite's
        secret = SECRET if request.param == "flask" else "test-webhook-token"
        yield f"http://127.0.0.1:{port}/twofactor/delivery/", log, secret
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stderr:
            process.stderr.close()


def test_gunicorn_access_log_never_shows_the_token(
    gunicorn_server: tuple[str, Path, str],
) -> None:
    url, log, secret = gunicorn_server
    statuses = _post_all(url, secret)
    assert statuses[0] != 403  # the right token was taken from the query (opt-in on)
    deadline = time.monotonic() + 15  # gunicorn writes the line after the answer
    text = log.read_text()
    while text.count("POST /twofactor/delivery/") <= len(QUERIES) and time.monotonic() < deadline:
        time.sleep(0.05)
        text = log.read_text()
    assert text.count("POST /twofactor/delivery/") == len(QUERIES) + 1
    assert secret[:12] not in text
    assert "<redacted>" in text


def test_werkzeug_access_log_never_shows_the_token(caplog: pytest.LogCaptureFixture) -> None:
    from werkzeug.serving import make_server

    from tests.servers.flask_app import create_app

    os.environ["TEST_WEBHOOK_TOKEN"] = SECRET
    try:
        app = create_app()
    finally:
        del os.environ["TEST_WEBHOOK_TOKEN"]
    server = make_server("127.0.0.1", 0, app, threaded=True)  # the development server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        statuses = _post_all(f"http://127.0.0.1:{server.server_port}/twofactor/delivery/")
        deadline = time.monotonic() + 5  # the line is written after the answer
        while (
            sum(1 for r in caplog.records if r.name == "werkzeug" and "POST" in r.getMessage())
            <= len(QUERIES)
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
    finally:
        server.shutdown()
    assert statuses[0] == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "POST" in line]) == len(QUERIES) + 1
    assert all(SECRET[:16] not in line for line in lines)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.django_db(transaction=True)
def test_django_runserver_access_log_never_shows_the_token(settings: Any) -> None:
    from django.core.servers.basehttp import (
        WSGIRequestHandler,
        WSGIServer,
        get_internal_wsgi_application,
    )

    settings.TWOFACTOR_NOTIFY = {**settings.TWOFACTOR_NOTIFY, "WEBHOOK_TOKEN": SECRET}
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)  # what runserver serves with
    server.set_app(get_internal_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler = _Lines()
    access = logging.getLogger("django.server")  # does not propagate: listen on it directly
    access.addHandler(handler)
    try:
        statuses = _post_all(f"http://127.0.0.1:{server.server_port}/twofactor/delivery/")
        deadline = time.monotonic() + 5  # the line is written after the answer
        while len(handler.lines) <= len(QUERIES) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        access.removeHandler(handler)
        server.shutdown()
        server.server_close()
    assert statuses[0] == 200
    lines = handler.lines
    assert len([line for line in lines if "POST" in line]) == len(QUERIES) + 1
    assert all(SECRET[:16] not in line for line in lines)
