"""Django settings of the delivery-report storm (:mod:`benchmarks.storm`), served by gunicorn.

The database comes from ``STORM_DATABASE_URL`` (``postgresql://user@host:port/name``) or, when
it is empty, from the SQLite file ``STORM_SQLITE``. Connections are persistent (as in
production) and tagged ``application_name = twofactor-storm``, so that the benchmark can kill
exactly these connections and no other.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_twofactor",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "benchmarks.storm_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
APPLICATION_NAME = "twofactor-storm"


def _database() -> dict[str, object]:
    url = os.environ.get("STORM_DATABASE_URL", "")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("STORM_SQLITE", "/tmp/twofactor-storm.sqlite3"),
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        # persistent connections, not checked before use: a connection killed between two
        # requests fails the next one (the harsher case for the storm's faults)
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {"application_name": APPLICATION_NAME},
    }


DATABASES = {"default": _database()}
TWOFACTOR_NOTIFY = {
    "BACKEND": "memory",
    "SENDER_ID": "TFACTR",
    "WEBHOOK_TOKEN": "storm-webhook-token-0123456789",
    "WEBHOOK_QUERY_TOKEN": True,  # the emulator, like 2Factor, posts to a registered URL
    "LOAD_ENTRYPOINTS": False,
    "PLUGINS": ["benchmarks.storm_wsgi.Recorder"],
    # The URLconf routes the app's URLs, login views included, so the system checks want
    # PHONE_FIELD to name a real field of auth.User; the storm never logs anyone in.
    "PHONE_FIELD": "username",
}
