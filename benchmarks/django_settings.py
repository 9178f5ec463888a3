"""Django settings for the webhook benchmark: SQLite in memory, no middleware but the
common one, only the apps the webhook views need."""

from __future__ import annotations

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
ROOT_URLCONF = "benchmarks.django_urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
TWOFACTOR_NOTIFY = {
    "BACKEND": "memory",
    "SENDER_ID": "TFACTR",
    "WEBHOOK_TOKEN": "bench-webhook-token",
    "WEBHOOK_QUERY_TOKEN": True,  # 2Factor posts to a registered URL, token in the query
    "LOAD_ENTRYPOINTS": False,
}
