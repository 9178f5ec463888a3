"""Run as ``python -m tests.otp.sqlite_race DB_PATH MODE``: a file-based SQLite database (MODE
``immediate`` or ``deferred`` transactions), the otp_twofactor system checks, then threads
verifying one device's code at once, through the device and through django-otp. Prints JSON."""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from django.conf import settings

THREADS = 6


def configure(path: str, mode: str) -> None:
    options = {"transaction_mode": "IMMEDIATE"} if mode == "immediate" else {}
    settings.configure(
        SECRET_KEY="sqlite-race",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django_otp",
            "otp_twofactor",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        OTP_TWOFACTOR_NO_DELIVERY=True,
        OTP_TWOFACTOR_THROTTLE_FACTOR=0,
        USE_TZ=True,
    )
    django.setup()


def race(attempt: Any, device: Any) -> list[str]:
    from django.db import connection

    from otp_twofactor.models import TwoFactorSMSDevice

    barrier = threading.Barrier(THREADS)

    def run(_: int) -> str:
        try:
            mine = TwoFactorSMSDevice.objects.get(pk=device.pk)
            barrier.wait(timeout=10)
            return "ok" if attempt(mine) else "refused"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(run, range(THREADS)))


def main() -> None:
    configure(sys.argv[1], sys.argv[2])
    from django.contrib.auth import get_user_model
    from django.core.checks import run_checks
    from django.core.management import call_command
    from django_otp import verify_token

    from otp_twofactor.conf import no_delivery_transport
    from otp_twofactor.models import TwoFactorSMSDevice

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("race")
    device = TwoFactorSMSDevice.objects.create(user=user, name="phone", number="+919876543210")
    results: dict[str, Any] = {"checks": [m.id for m in run_checks() if m.id]}
    for name, attempt in {
        "device": lambda d, otp: d.verify_token(otp),
        "django_otp": lambda d, otp: verify_token(d.user, d.persistent_id, otp) is not None,
    }.items():
        TwoFactorSMSDevice.objects.filter(pk=device.pk).update(last_generated_timestamp=None)
        device.refresh_from_db()
        device.generate_challenge()
        otp = no_delivery_transport().last_otp("+919876543210")
        results[name] = race(lambda d, otp=otp, attempt=attempt: attempt(d, otp), device)
    TwoFactorSMSDevice.objects.filter(pk=device.pk).update(last_generated_timestamp=None)
    results["challenge"] = race(lambda d: "sent" in d.generate_challenge().lower(), device)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
