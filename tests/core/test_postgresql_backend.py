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


def test_moments_load_as_django_loads_them(postgresql):
    """psycopg's own (C) timestamptz loader, on each cursor, gives what Django's gave: aware
    datetimes in UTC (``datetime.timezone.utc``), to the microsecond, and NULL as None."""
    import datetime

    from django.db.backends.postgresql.psycopg_any import register_tzloader

    sql = ("SELECT '2026-12-02 10:05:12.405705+00'::timestamptz, '1999-12-31 23:59:59-05'::timestamptz, "
           "'2026-06-01 00:00:00+02'::timestamptz, NULL::timestamptz")
    with connection.cursor() as cursor:
        cursor.execute(sql)
        fast = cursor.fetchone()
        assert cursor.cursor.adapters.get_loader(1184, psycopg.pq.Format.TEXT).__module__.startswith("psycopg")
        register_tzloader(datetime.timezone.utc, cursor.cursor)  # Django's own loader back on this cursor
        assert "psycopg_any" in cursor.cursor.adapters.get_loader(1184, psycopg.pq.Format.TEXT).__module__
        cursor.execute(sql)
        django_loaded = cursor.fetchone()
    assert fast == django_loaded
    assert fast[0] == datetime.datetime(2026, 12, 2, 10, 5, 12, 405705, tzinfo=datetime.timezone.utc)
    assert fast[1] == datetime.datetime(2000, 1, 1, 4, 59, 59, tzinfo=datetime.timezone.utc)
    assert all(v.tzinfo is datetime.timezone.utc for v in fast[:3]) and fast[3] is None
    assert [v.isoformat() for v in fast[:3]] == [v.isoformat() for v in django_loaded[:3]]


def test_a_saved_moment_reads_back_the_same_through_the_orm(postgresql, django_user_model):
    import datetime

    joined = datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.timezone.utc)
    user = django_user_model.objects.create(username="moment", date_joined=joined)
    assert django_user_model.objects.get(pk=user.pk).date_joined == joined
    assert django_user_model.objects.filter(date_joined=joined).exists()
