"""A metrics batch on PostgreSQL: one statement holds the run, claims the batch id and folds
the batch into the per-key summaries; then one binary COPY stores the points (both in one
transaction, ``tracking.log_batch``).

The statement replaces three round trips (``SELECT ... FOR KEY SHARE``, the batch-id
``INSERT``, the summaries' upsert), its arrays travel in binary, and its data-modifying
CTEs see one snapshot, so a replayed batch id or a vanished run changes nothing.
The points go by COPY rather than ``INSERT ... SELECT unnest(arrays)`` in the same
statement: measured on this machine, the two were level at 1,000 points and COPY was 25%
faster at 20,000.
"""
from __future__ import annotations

import psycopg
from django.db import connection

from ..models import IngestBatch, MetricSummary, Run
from .metric_ingest import SUMMARY_COLUMNS, Series, fold, summary_upsert_set

_SUMMARY_TYPES = ("float8", "int8", "float8", "int8", "float8", "int8", "int8")


def _sql(with_batch_id: bool) -> str:
    q = connection.ops.quote_name
    run, summary, batch = (q(m._meta.db_table) for m in (Run, MetricSummary, IngestBatch))
    claim = (f"INSERT INTO {batch} (run_id, batch_id, created_at) SELECT id, %(batch)s, now() FROM hold "
             f"ON CONFLICT (run_id, batch_id) DO NOTHING RETURNING 1") if with_batch_id else "SELECT 1 FROM hold"
    cols = ", ".join(q(c) for c in SUMMARY_COLUMNS)
    arrays = ", ".join(f"%({c})b::{t}[]" for c, t in zip(SUMMARY_COLUMNS, _SUMMARY_TYPES))
    return (
        f"WITH hold AS (SELECT id FROM {run} WHERE id = %(run)s FOR KEY SHARE), "
        f"claim AS ({claim}), "
        f"summaries AS (INSERT INTO {summary} (run_id, {q('key')}, {cols}) "
        f"SELECT %(run)s, u.* FROM unnest(%(skeys)b::text[], {arrays}) AS u "
        f"WHERE EXISTS (SELECT FROM claim) "
        f"ON CONFLICT (run_id, {q('key')}) DO UPDATE SET {summary_upsert_set()}) "
        f"SELECT EXISTS (SELECT FROM hold), EXISTS (SELECT FROM claim)"
    )


_STATEMENTS: dict[bool, str] = {}


def batch_claim(run_id: int, series: list[Series], *, batch_id: str | None) -> tuple[bool, bool]:
    """Hold the run, claim ``batch_id`` and fold ``series`` into the summaries, in the open
    transaction. Returns (the run exists, the batch is new): when either is False nothing
    was written, and the caller stores no points."""
    sql = _STATEMENTS.get(bool(batch_id))
    if sql is None:
        sql = _STATEMENTS[bool(batch_id)] = _sql(bool(batch_id))
    ordered = sorted(series, key=lambda s: s.key)  # summary rows lock in key order: no deadlock between batches
    folds = list(zip(*(fold(s) for s in ordered)))
    args = {"run": run_id, "batch": batch_id, "skeys": [s.key for s in ordered],
            **dict(zip(SUMMARY_COLUMNS, map(list, folds)))}
    connection.ensure_connection()
    # A cursor of psycopg's own (server-side binding, binary parameters) on Django's
    # connection, in whatever transaction Django has open: Django's cursors bind on the
    # client, which would print every number into the SQL text.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, args)
        held, stored = cursor.fetchone()
    return bool(held), bool(stored)
