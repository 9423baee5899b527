"""Django's PostgreSQL backend with a health check that costs no round trip.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection before a request's first query
by running ``SELECT 1``: a round trip on every request, a tenth of a log-batch's time on
this machine. An idle connection has nothing to read, so here the check asks the socket
instead (``select`` with no wait): a connection the server closed (a restart, an idle
timeout, a killed backend) has its end-of-file or an error waiting there, and is replaced
before the request uses it, as Django's check would do.
"""
from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
            return False
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()  # not between transactions: ask the server
        try:
            readable, _, failed = select.select([conn.pgconn.socket], [], [conn.pgconn.socket], 0)
        except (OSError, ValueError):
            return False
        return not (readable or failed)
