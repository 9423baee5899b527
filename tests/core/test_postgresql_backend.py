"""core.postgresql: a kept connection the server has closed is found out by its socket,
before a request uses it, and replaced; a healthy one costs no round trip to check."""
from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the backend is PostgreSQL's")
    assert type(connections["default"]).__module__ == "core.postgresql.base"


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _admin() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(host=settings["HOST"] or None, port=settings["PORT"] or None, user=settings["USER"] or None,
                           dbname=settings["NAME"], autocommit=True)


def test_a_healthy_idle_connection_is_usable_without_a_query(postgresql):
    pid = _server_pid()
    assert connection.is_usable()
    with _admin() as admin:  # the server's record of the last query our connection sent
        (last,) = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    assert last == "SELECT pg_backend_pid()"


def test_a_connection_the_server_killed_is_replaced_before_it_is_used(postgresql):
    pid = _server_pid()
    with _admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:  # the FIN arrives a moment later
        time.sleep(0.01)
    assert not connection.is_usable()
    connection.health_check_done = False
    connection.close_if_health_check_failed()  # what Django does before a request's first query
    assert _server_pid() != pid  # a new connection, and the query worked
