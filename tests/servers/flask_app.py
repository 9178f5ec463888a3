"""A Flask app for gunicorn (``tests.servers.flask_app:create_app()``), query token on."""

from __future__ import annotations

import os

from flask import Flask

from flask_twofactor import TwoFactor


def create_app() -> Flask:
    app = Flask("gunicorn_webhooks")
    app.config.update(
        TWOFACTOR_BACKEND="memory",
        TWOFACTOR_WEBHOOK_TOKEN=os.environ["TEST_WEBHOOK_TOKEN"],
        TWOFACTOR_WEBHOOK_QUERY_TOKEN=True,
        TWOFACTOR_LOAD_ENTRYPOINTS=False,
    )
    TwoFactor(app)
    return app
