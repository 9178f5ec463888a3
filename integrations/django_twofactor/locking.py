"""Transactions that read a row and then write it, on every database the app supports.

PostgreSQL locks the row read with ``SELECT … FOR UPDATE``. SQLite has no row locks: a
DEFERRED transaction (Django's default) that has read holds a shared lock, and when it
then writes while another connection is writing, SQLite cannot wait for it and answers
"database is locked" at once. :func:`write_transaction` takes SQLite's write lock when the
transaction starts, so it waits for the other writer instead (up to the database's
``timeout`` option), as a transaction started with ``"transaction_mode": "IMMEDIATE"`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, router, transaction
from django.db.models import Model

__all__ = ["write_transaction"]


@contextmanager
def write_transaction(model: type[Model], using: str | None = None) -> Iterator[None]:
    """``transaction.atomic`` on ``model``'s database that holds the write lock from its start.

    Inside a transaction that is already open (the caller's) it is a savepoint, and the
    outer transaction's locks stay what they are.
    """
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=alias):
        if outermost and connection.vendor == "sqlite" and not _immediate(connection):
            ops = connection.ops
            table = ops.quote_name(model._meta.db_table)
            column = ops.quote_name(str(model._meta.pk.column))
            with connection.cursor() as cursor:  # writes nothing; SQLite takes the write lock
                cursor.execute(f"UPDATE {table} SET {column} = {column} WHERE 0")  # noqa: S608
        yield


def _immediate(connection: object) -> bool:
    options = getattr(connection, "settings_dict", {}).get("OPTIONS") or {}
    return str(options.get("transaction_mode") or "").upper() in {"IMMEDIATE", "EXCLUSIVE"}
