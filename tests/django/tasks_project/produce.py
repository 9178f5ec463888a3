"""Queue messages the way a web process does: ``python -m tests.django.tasks_project.produce
PREFIX COUNT ROLLED_BACK``. ``COUNT`` messages are queued in a transaction that commits
(keys ``PREFIX-0``…), ``ROLLED_BACK`` in one that rolls back (keys ``PREFIX-rb-0``…)."""

from __future__ import annotations

import sys

import django


class _RolledBack(Exception):
    pass


def main(prefix: str, count: int, rolled_back: int) -> None:
    django.setup()
    from django.db import transaction

    from django_twofactor import send_sms

    phone = "+919876543210"
    with transaction.atomic():
        for i in range(count):
            send_sms(phone, f"message {prefix}-{i}", background=True, key=f"{prefix}-{i}")
    try:
        with transaction.atomic():
            for i in range(rolled_back):
                key = f"{prefix}-rb-{i}"
                send_sms(phone, f"message {key}", background=True, key=key)
            raise _RolledBack
    except _RolledBack:
        pass


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
