"""The webhook token never reaches an access log, in any spelling of the query parameter:
gunicorn's (Django and Flask apps), werkzeug's development server, Django's runserver."""

from __future__ import annotations

import http.client
import json
import logging
import os
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

from .listening import ROOT, free_port, gunicorn, wait_until_listening

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
    port = free_port()
    log = tmp_path / "access.log"
    env = dict(os.environ, TEST_WEBHOOK_TOKEN=SECRET, DJANGO_SETTINGS_MODULE="tests.settings")
    env["TWOFACTOR_TEST_DATABASE_URL"] = ""  # the 403/200 paths need no database
    app = (
        "tests.servers.flask_app:create_app()"
        if request.param == "flask"
        else "django.core.wsgi:get_wsgi_application()"
    )
    log_format = '%(h)s "%(r)s" %(s)s %(U)s %(q)s %({raw_uri}e)s'
    options = ("--workers", "1", "--access-logfile", str(log), "--access-logformat", log_format)
    process = subprocess.Popen(
        gunicorn(port, app, *options),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_listening(
            port, process, lambda: process.stderr.read().decode() if process.stderr else ""
        )
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


def _fresh_server(kind: str, port: int, log: Path, token: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TEST_WEBHOOK_TOKEN=token, DJANGO_SETTINGS_MODULE="tests.settings")
    env["TWOFACTOR_TEST_DATABASE_URL"] = ""  # nothing here needs a database
    if kind == "django-runserver":
        command = [
            sys.executable,
            "-m",
            "django",
            "runserver",
            "--noreload",
            "--nothreading",
            f"127.0.0.1:{port}",
        ]
    else:
        app = (
            "tests.servers.flask_app:create_app()"
            if kind == "flask-gunicorn"
            else "django.core.wsgi:get_wsgi_application()"
        )
        log_format = '%(h)s "%(r)s" %(s)s %(U)s %(q)s %({raw_uri}e)s %({x-twofactor-token}i)s'
        options = ("--workers", "1", "--access-logfile", str(log), "--access-logformat", log_format)
        command = gunicorn(port, app, *options)
    return subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.with_suffix(".err").open("wb"),
    )


@pytest.mark.parametrize("kind", ["django-gunicorn", "django-runserver", "flask-gunicorn"])
def test_a_fresh_process_hides_the_token_before_its_first_webhook(
    kind: str, tmp_path: Path
) -> None:
    """The first requests of a new process are not webhooks: the token is hidden already
    (registered at app start), in every spelling, in access lines and 404 lines alike."""
    if "gunicorn" in kind:
        pytest.importorskip("gunicorn")
    token = "test-webhook-token" if kind.startswith("django") else SECRET
    port = free_port()
    log = tmp_path / "access.log"
    log.touch()
    process = _fresh_server(kind, port, log, token)
    try:
        wait_until_listening(port, process, log.with_suffix(".err").read_text)
        encoded = token.replace("-", "%2D")
        targets = [
            f"/admin/login/?x={token}",
            f"/nowhere/?x={encoded}",
            f"/nowhere/?x={token.replace('-', '%2d')}",
            f"/twofactor/delivery/{token}/",
        ]
        for target in targets:  # http.client sends the target as written (requests would
            # turn %2D back into "-")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", target, headers={"X-TwoFactor-Token": token})
            connection.getresponse().read()
            connection.close()
        deadline = time.monotonic() + 15  # lines are written after the answers

        def written() -> str:
            return log.read_text() + log.with_suffix(".err").read_text()

        while written().count("/nowhere/") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = written()
    assert text.count("/nowhere/") >= 2, text[-2000:]  # the lines were written
    for spelling in (token, token.replace("-", "%2D"), token.replace("-", "%2d")):
        assert spelling not in text
    assert "<redacted>" in text


@pytest.mark.parametrize("logger_name", ["django.request", "werkzeug", "gunicorn.error"])
def test_a_404_line_quoting_the_token_in_its_path_is_redacted(
    logger_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    from django.test import Client

    token = "test-webhook-token"  # tests.settings' token, registered when the app started
    caplog.set_level(logging.INFO, logger=logger_name)
    if logger_name == "django.request":
        Client().get(f"/twofactor/delivery/{token}/?x={token.replace('-', '%2D')}")
    else:
        logging.getLogger(logger_name).warning("Not Found: %s", f"/hooks/{token}/")
    lines = [r.getMessage() for r in caplog.records if r.name == logger_name]
    assert lines and all("Not Found" in line for line in lines)
    assert all("webhook-token" not in line and "<redacted>" in line for line in lines)
