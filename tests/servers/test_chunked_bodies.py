"""A chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) is read, under the
size limit, by every framework on every server: Django under gunicorn and runserver, Flask
under gunicorn. A valid report sent that way is stored, an oversized one is a 413."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")
pytest.importorskip("django")

from twofactor_notify.webhooks import MAX_WEBHOOK_BYTES, TOKEN_HEADER

from .listening import ROOT, free_port, gunicorn, wait_until_listening

pytestmark = pytest.mark.django_db(transaction=True)

FLASK_TOKEN = "chunked-test-token-0123456789"
DJANGO_TOKEN = "test-webhook-token"  # tests.settings'


def _post_chunked(port: int, token: str, parts: list[bytes]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(
            "POST",
            "/twofactor/delivery/",
            body=iter(parts),
            headers={"Content-Type": "application/json", TOKEN_HEADER: token},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


#: A server: its port, its token, and how to count the reports it stored with a message id.
Server = tuple[int, str, Callable[[str], int]]


@pytest.fixture
def gunicorn_django(tmp_path: Path) -> Iterator[Server]:
    pytest.importorskip("gunicorn")
    database = tmp_path / "db.sqlite3"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    env["TWOFACTOR_TEST_DATABASE_URL"] = f"sqlite:///{database}"
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True
    )
    yield from _gunicorn(
        "django.core.wsgi:get_wsgi_application()",
        env,
        tmp_path,
        DJANGO_TOKEN,
        lambda mid: _count_sqlite(database, mid),
    )


@pytest.fixture
def gunicorn_flask(tmp_path: Path) -> Iterator[Server]:
    pytest.importorskip("gunicorn")
    env = dict(os.environ, TEST_WEBHOOK_TOKEN=FLASK_TOKEN)
    yield from _gunicorn(
        "tests.servers.flask_app:create_app()", env, tmp_path, FLASK_TOKEN, lambda mid: -1
    )


def _count_sqlite(database: Path, message_id: str) -> int:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM django_twofactor_deliveryreport WHERE message_id = ?",
            (message_id,),
        ).fetchone()
    return int(row[0])


def _gunicorn(
    app: str, env: dict[str, str], tmp_path: Path, token: str, count: Callable[[str], int]
) -> Iterator[Server]:
    port = free_port()
    err = tmp_path / "gunicorn.err"
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            gunicorn(port, app, "--workers", "1"),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_until_listening(port, process, err.read_text)
        yield port, token, count
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def runserver_django(live_server: Any) -> Server:
    """Django's live server: runserver's request handler (wsgiref's, which hands the raw
    connection over), in a thread that shares the test database."""
    from django_twofactor.models import DeliveryReport

    port = int(live_server.url.rsplit(":", 1)[1])
    return port, DJANGO_TOKEN, lambda mid: DeliveryReport.objects.filter(message_id=mid).count()


@pytest.fixture(params=["django-gunicorn", "django-runserver", "flask-gunicorn"])
def server(request: pytest.FixtureRequest) -> Server:
    name = {
        "django-gunicorn": "gunicorn_django",
        "django-runserver": "runserver_django",
        "flask-gunicorn": "gunicorn_flask",
    }[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_a_chunked_report_is_read_and_stored(server: Server) -> None:
    port, token, count = server
    message_id = "chunked-" + uuid.uuid4().hex
    body = json.dumps({"SessionId": message_id, "SmsTo": "9876543210", "SmsStatus": "DELIVERED"})
    raw = body.encode()
    status, answer = _post_chunked(port, token, [raw[:10], raw[10:40], raw[40:]])
    assert status == 200, answer
    assert json.loads(answer)["received"] == 1
    assert count(message_id) in (1, -1)  # -1: Flask stores nothing; its answer counted it


def test_an_oversized_chunked_body_is_413(server: Server) -> None:
    port, token, _ = server
    part = b" " * 8192
    status, _ = _post_chunked(port, token, [b"["] + [part] * (MAX_WEBHOOK_BYTES // 8192 + 2))
    assert status == 413
