"""Statements that run on every request or step, bound and prepared on the server.

Django's PostgreSQL cursors bind parameters on the client: every number and list goes into
the SQL text, which the server parses and plans again each time. For the few statements
that run once per API call or per step (a token's lookup, a step's claim and record, a
metrics batch), this cursor of psycopg's own, on Django's connection and in whatever
transaction it has open, sends the parameters apart and has the server keep the plan
(``prepare``, once per connection; ``FLOWDECK_DB_PREPARE=0`` for a pooler such as PgBouncer
in transaction mode, where a connection's prepared statements are not its own).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection


@contextmanager
def server_cursor() -> Iterator[psycopg.Cursor]:
    """A server-binding psycopg cursor on Django's (PostgreSQL) connection; database errors
    come out as Django's, as from its own cursors."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def run_prepared(sql: str, params: Sequence[Any]) -> tuple[tuple | None, int]:
    """Run one statement, prepared, on PostgreSQL (elsewhere through Django's cursor); return
    its first row (None if it returns none) and its row count."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return (cursor.fetchone() if cursor.description else None), cursor.rowcount
    with server_cursor() as cursor:
        execute_prepared(cursor, sql, params)
        return (cursor.fetchone() if cursor.description else None), cursor.rowcount


def execute_prepared(cursor: psycopg.Cursor, sql: str, params: Sequence[Any] | dict, *, prepare: bool = True) -> None:
    """Run ``sql``, prepared unless ``prepare`` is False (a statement whose text varies, which
    would fill the connection with plans) or FLOWDECK_DB_PREPARE is off."""
    cursor.execute(sql, params, prepare=prepare and settings.FLOWDECK_DB_PREPARE)
