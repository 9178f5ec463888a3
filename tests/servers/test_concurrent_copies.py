"""Copies of one report arriving at the same moment are announced once, and the answers'
``stored`` counts add up to the reports, not to the copies.

2Factor may POST a report more than once, and a retry can overlap the first attempt. In
Django the request whose INSERT stored the report (or that took over an expired lease)
is the only one that calls the plugins and receivers; a copy arriving meanwhile is
answered 503 (retry later) or 200 as a duplicate. In Flask the in-process duplicate
filter makes concurrent copies wait for the first one's outcome. Proven with threads
against both frameworks (Django on PostgreSQL: SQLite serialises every writer) and with a
real multi-worker gunicorn serving the Django app on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")
pytest.importorskip("django")
import contextlib

import requests

from twofactor_notify.webhooks import TOKEN_HEADER

from .listening import ROOT, free_port, gunicorn, wait_until_listening

pytestmark = pytest.mark.django_db(transaction=True)

REPORTS, COPIES = 40, 5
DJANGO_TOKEN = "test-webhook-token"  # tests.settings'
FLASK_TOKEN = "copies-test-token-0123456789"
POSTGRES = os.environ.get("TWOFACTOR_TEST_DATABASE_URL", "")
needs_postgresql = pytest.mark.skipif(
    not POSTGRES.startswith("postgresql"),
    reason="concurrent copies on Django need PostgreSQL: set TWOFACTOR_TEST_DATABASE_URL "
    "(SQLite serialises every writer)",
)

#: POST one body; returns (status, answer).
Post = Callable[[bytes], tuple[int, dict[str, Any]]]


def _bodies() -> list[bytes]:
    run = uuid.uuid4().hex[:8]
    return [
        json.dumps(
            {
                "SessionId": f"copy-{run}-{n}",
                "SmsTo": "9876543210",
                "SmsStatus": "DELIVERED",
                "StatusAt": "2025-01-01 10:00:05",
            }
        ).encode()
        for n in range(REPORTS)
    ]


def _storm(post: Post, bodies: list[bytes]) -> int:
    """Every body ``COPIES`` times at once; the 503s retried (as 2Factor would) until each
    is answered 200. Returns the sum of the answers' counts of reports handed over now."""
    stored = 0
    pending = [body for body in bodies for _ in range(COPIES)]
    lock = threading.Lock()
    start = threading.Barrier(min(len(pending), 20))

    def one(body: bytes) -> tuple[bytes, int, dict[str, Any]]:
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=5)
        status, answer = post(body)
        return body, status, answer

    for _ in range(50):
        if not pending:
            break
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(one, pending))
        pending = []
        for body, status, answer in results:
            assert status in (200, 503), (status, answer)
            with lock:
                stored += int(answer.get("stored", answer.get("received", 0)))
            if status == 503:
                pending.append(body)
        if pending:
            _expire_leases()
            start = threading.Barrier(min(len(pending), 20))
    assert not pending, "some copies were never answered 200"
    return stored


def _expire_leases() -> None:
    """Time passes for a retry: leases of hand-overs that are not marked run out (in this
    test every holder has finished, or died, by the time 2Factor retries)."""
    from django_twofactor.models import DeliveryReport

    DeliveryReport.objects.filter(handed_over=False).update(lease_until=0.0)


@pytest.fixture
def django_post(settings: Any) -> Iterator[tuple[Post, Counter[str]]]:
    from django.db import connections
    from django.test import Client

    from django_twofactor.signals import delivery_report_received

    announced: Counter[str] = Counter()
    guard = threading.Lock()

    def receiver(sender: Any, report: Any, **kwargs: Any) -> None:
        with guard:
            announced[report.message_id] += 1

    delivery_report_received.connect(receiver)

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            answer = Client().post(
                "/twofactor/delivery/",
                data=body,
                content_type="application/json",
                headers={TOKEN_HEADER: DJANGO_TOKEN},
            )
            return answer.status_code, answer.json()
        finally:
            connections.close_all()  # this thread's connection

    yield post, announced
    delivery_report_received.disconnect(receiver)


@pytest.fixture
def flask_post() -> tuple[Post, Counter[str]]:
    from flask import Flask

    from flask_twofactor import TwoFactor
    from flask_twofactor.signals import delivery_received

    app = Flask(f"copies_{uuid.uuid4().hex[:8]}")
    app.config.update(
        TESTING=True,
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=FLASK_TOKEN,
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
    )
    TwoFactor(app)
    announced: Counter[str] = Counter()
    guard = threading.Lock()

    def receiver(sender: Any, report: Any, **extra: Any) -> None:
        time.sleep(0.01)  # a receiver that takes a moment: the copies overlap it
        with guard:
            announced[report.message_id] += 1

    delivery_received.connect(receiver, sender=app, weak=False)

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        answer = app.test_client().post(
            "/twofactor/delivery/",
            data=body,
            content_type="application/json",
            headers={TOKEN_HEADER: FLASK_TOKEN},
        )
        return answer.status_code, answer.get_json()

    return post, announced


@pytest.mark.parametrize("framework", [pytest.param("django", marks=needs_postgresql), "flask"])
def test_concurrent_copies_of_a_report_are_announced_once(
    framework: str, request: pytest.FixtureRequest
) -> None:
    post, announced = request.getfixturevalue(f"{framework}_post")
    bodies = _bodies()
    stored = _storm(post, bodies)
    assert len(announced) == REPORTS
    assert set(announced.values()) == {1}, announced.most_common(3)
    assert stored == REPORTS
    if framework == "django":
        from django_twofactor.models import DeliveryReport

        assert DeliveryReport.objects.count() == REPORTS
        assert not DeliveryReport.objects.filter(handed_over=False).exists()


@needs_postgresql
def test_concurrent_copies_on_a_multi_worker_gunicorn_are_stored_and_counted_once(
    tmp_path: Path,
) -> None:
    pytest.importorskip("gunicorn")
    from django.db import connection

    from django_twofactor.models import DeliveryReport

    database = connection.settings_dict["NAME"]  # the test database, migrated
    url = POSTGRES.rsplit("/", 1)[0] + "/" + database
    port = free_port()
    err = tmp_path / "gunicorn.err"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    env["TWOFACTOR_TEST_DATABASE_URL"] = url
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            gunicorn(
                port, "django.core.wsgi:get_wsgi_application()", "--workers", "3", "--threads", "4"
            ),
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=20))
    try:
        wait_until_listening(port, process, err.read_text)

        def post(body: bytes) -> tuple[int, dict[str, Any]]:
            answer = session.post(
                f"http://127.0.0.1:{port}/twofactor/delivery/",
                data=body,
                headers={"Content-Type": "application/json", TOKEN_HEADER: DJANGO_TOKEN},
                timeout=30,
            )
            return answer.status_code, answer.json()

        stored = _storm(post, _bodies())
    finally:
        session.close()
        process.terminate()
        process.wait(timeout=20)
    assert stored == REPORTS  # "stored" counted once per report, over every worker
    assert DeliveryReport.objects.count() == REPORTS
    assert not DeliveryReport.objects.filter(handed_over=False).exists()
