"""Settings of the worker project, from the environment the test gives it:
``TFN_DATABASE_URL`` (PostgreSQL), ``TFN_EMULATOR_URL``, ``TFN_API_KEY``, ``TFN_LEASE``."""

from __future__ import annotations

import importlib.util
import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "test-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_tasks_db",
    "django_twofactor",
]
if importlib.util.find_spec("django.tasks") is None:  # Django 5.2: the backport
    INSTALLED_APPS.insert(2, "django_tasks")

_url = urlsplit(os.environ["TFN_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": unquote(_url.username or ""),
        "PASSWORD": unquote(_url.password or ""),
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
    }
}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

TWOFACTOR_NOTIFY = {
    "BACKEND": "2factor",
    "API_KEY": os.environ["TFN_API_KEY"],
    "BASE_URL": os.environ["TFN_EMULATOR_URL"],
    "SENDER_ID": "TFACTR",
    "LOAD_ENTRYPOINTS": False,
    "TIMEOUT": 2,  # below the short lease of these tests
    "BACKGROUND": {
        "ENGINE": "django-tasks",
        # no REDIS_URL: the ledger is this database
        "LEDGER": "database",
        "LEASE_SECONDS": float(os.environ.get("TFN_LEASE", "3")),
        "ACCOUNT_RATE_LIMIT": None,
    },
}

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
