"""Django settings for the test suite (django_twofactor and otp_twofactor).

SQLite by default; PostgreSQL when ``TWOFACTOR_TEST_DATABASE_URL`` is set
(``postgresql://user@127.0.0.1:5432/dbname``), as ``.ci/run`` does.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "test-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "two_factor.plugins.phonenumber",
    "django_twofactor",
    "otp_twofactor",
    "otp_twofactor.two_factor",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _database() -> dict[str, object]:
    url = os.environ.get("TWOFACTOR_TEST_DATABASE_URL", "")
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if url.startswith("sqlite:///"):  # a file: for a server started in another process, or
        # for tests whose connections must lock as a project's do (an in-memory test
        # database shares one cache between connections, which locks differently)
        path = url.removeprefix("sqlite:///")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "TEST": {"NAME": path}}
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "test",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }


DATABASES = {"default": _database()}

# Tests never send for real: locmem by default; tests that talk to the emulator override
# BACKEND / API_KEY / BASE_URL for their duration.
TWOFACTOR_NOTIFY = {
    "BACKEND": "memory",
    "SENDER_ID": "TFACTR",
    "OTP_TEMPLATE": "OTPTest",
    "WEBHOOK_TOKEN": "test-webhook-token",
    # 2Factor (and the emulator) can only be given a URL: most tests post ?token=
    "WEBHOOK_QUERY_TOKEN": True,
    "LOAD_ENTRYPOINTS": False,
    "PHONE_FIELD": "username",
}

LOGIN_REDIRECT_URL = "/"

# django-two-factor-auth is installed for the otp tests of its wizards; it must not replace
# the admin's login (the otp tests log into django-otp's OTPAdminSite).
TWO_FACTOR_PATCH_ADMIN = False
