"""Target 4: delivery-report webhooks through the Django view and the Flask blueprint.

Each is compared with a minimal hand-written view of the same framework, through the same
framework test client, in the same run:

* Django (``django.test.Client``; settings in :mod:`benchmarks.django_settings`: SQLite in
  memory, CommonMiddleware only): the app's ``delivery_webhook`` (token check, core parser,
  report row and message-log update in one transaction, ``on_delivery``, signal, the
  hand-over mark) against
  :func:`benchmarks.django_urls.baseline_delivery` (token check, ``json.loads``, save the
  same ``DeliveryReport`` row, answer).
* Flask (``app.test_client()``): the blueprint ``TwoFactor(app)`` registers (token, size
  limit, core parser, in-memory dedupe, ``on_delivery``, signal) against a view that checks
  the token, parses the same body with ``json.loads`` and answers.

Every request carries a new report (a duplicate would be cheaper). Target: each at least
0.8 x its baseline's throughput.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable

from ._phones import indian_mobiles
from ._support import Row, Table, profile_top

NAME = "webhooks"
TITLE = "4. Webhook ingest (framework test clients)"

TOKEN = "bench-webhook-token"
TARGET = 0.8
_ids = itertools.count(1)


def report_bodies(count: int) -> list[bytes]:
    """``count`` distinct delivery reports, as the emulator (and 2Factor) POST them."""
    bodies = []
    for phone in indian_mobiles(count, seed=next(_ids), form="national"):
        n = next(_ids)
        bodies.append(
            json.dumps(
                {
                    "SessionId": f"7c1e9a52-41d3-4a8e-b0a5-{n:012d}-1",
                    "SmsFrom": "TFACTR",
                    "SmsTo": phone,
                    "SmsStatus": "DELIVERED",
                    "SentAt": "2025-03-14 10:21:07",
                    "StatusAt": "2025-03-14 10:21:11",
                    "callback_value1": f"order-{n}",
                    "callback_value2": "",
                },
                separators=(",", ":"),
            ).encode("utf-8")
        )
    return bodies


def _race(
    contenders: dict[str, Callable[[bytes], object]], *, per_round: int, rounds: int
) -> dict[str, float]:
    """Best requests/s of each contender; rounds interleaved, fresh reports every round."""
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, post in contenders.items():
            bodies = report_bodies(per_round)
            t0 = time.perf_counter()
            for body in bodies:
                post(body)
            best[name] = max(best[name], per_round / (time.perf_counter() - t0))
    return best


def _compare(
    table: Table,
    name: str,
    app_post: Callable[[bytes], object],
    base_post: Callable[[bytes], object],
    per_round: int,
    rounds: int,
    smoke: bool,
) -> float:
    """Race the app's view against its baseline, add the row, profile a miss; the ratio."""
    _race({"app": app_post, "base": base_post}, per_round=max(20, per_round // 10), rounds=1)
    best = _race({"app": app_post, "base": base_post}, per_round=per_round, rounds=rounds)
    ratio = best["app"] / best["base"]
    table.add(
        Row(
            f"{name} (req/s)",
            f"{best['app']:,.0f} /s",
            f"{best['base']:,.0f} /s",
            ratio,
            f">= {TARGET}",
            ratio >= TARGET,
        )
    )
    if ratio < TARGET and not smoke:
        bodies = iter(report_bodies(1000))
        table.notes.append(f"profile of the {name} view (top own time per request):")
        table.notes += profile_top(lambda: app_post(next(bodies)), calls=1000, limit=14)
    return ratio


def _django(table: Table, per_round: int, rounds: int, smoke: bool) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.django_settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from django_twofactor.models import DeliveryReport

    call_command("migrate", verbosity=0, interactive=False)
    client = Client()
    app_url = f"/twofactor/delivery/?token={TOKEN}"
    base_url = f"/baseline/delivery/?token={TOKEN}"

    def app_post(body: bytes) -> object:
        response = client.post(app_url, data=body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response

    def base_post(body: bytes) -> object:
        response = client.post(base_url, data=body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response

    before = DeliveryReport.objects.count()
    first = app_post(report_bodies(1)[0])
    assert json.loads(first.content)["stored"] == 1  # type: ignore[attr-defined]
    base_post(report_bodies(1)[0])
    assert DeliveryReport.objects.count() == before + 2
    ratio = _compare(
        table, "Django delivery_webhook", app_post, base_post, per_round, rounds, smoke
    )
    if ratio < TARGET and not smoke:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            app_post(report_bodies(1)[0])
        table.notes.append(f"SQL per delivery report in the app's view: {len(queries)} queries:")
        table.notes += [f"  {q['sql'][:110]}" for q in queries.captured_queries]


def _flask(table: Table, per_round: int, rounds: int, smoke: bool) -> None:
    from flask import Flask, jsonify, request

    from flask_twofactor import TwoFactor

    app = Flask("bench_webhooks")
    app.config.update(
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=TOKEN,
        TWOFACTOR_WEBHOOK_QUERY_TOKEN=True,  # 2Factor posts to a URL, token in the query
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
        TWOFACTOR_SENDER_ID="TFACTR",
    )
    TwoFactor(app)

    @app.post("/baseline/delivery/")
    def baseline_delivery() -> object:
        if request.args.get("token") != TOKEN:
            return jsonify(ok=False), 403
        data = json.loads(request.get_data())
        return jsonify(ok=True, received=1 if data.get("SessionId") else 0)

    client = app.test_client()
    app_url = f"/twofactor/delivery/?token={TOKEN}"
    base_url = f"/baseline/delivery/?token={TOKEN}"

    def app_post(body: bytes) -> object:
        response = client.post(app_url, data=body, content_type="application/json")
        assert response.status_code == 200, response.data
        return response

    def base_post(body: bytes) -> object:
        response = client.post(base_url, data=body, content_type="application/json")
        assert response.status_code == 200, response.data
        return response

    first = app_post(report_bodies(1)[0])
    assert first.get_json()["received"] == 1  # type: ignore[attr-defined]
    _compare(table, "Flask blueprint delivery", app_post, base_post, per_round, rounds, smoke)


def run(smoke: bool) -> Table:
    """Measure and return the table."""
    per_round, rounds = (30, 1) if smoke else (1_000, 5)
    table = Table(TITLE)
    _django(table, per_round, rounds, smoke)
    _flask(table, per_round, rounds, smoke)
    table.notes.append(
        f"best of {rounds} interleaved rounds of {per_round:,} requests, each a new JSON "
        "report (realistic numbers in 10-digit form, as 2Factor sends them)."
    )
    return table
