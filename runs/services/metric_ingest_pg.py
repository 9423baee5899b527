"""A metrics batch on PostgreSQL, in one statement: it holds the run, claims the batch id,
folds the batch into the per-key summaries and stores each key's points as one chunk row
of arrays (``MetricChunk``; ``runs_metric`` is a view that unnests them).

One statement is one round trip and, outside a transaction, its own commit. Its
data-modifying CTEs see one snapshot, so a replayed batch id or a vanished run changes
nothing. The arrays travel in PostgreSQL's binary array format, packed here by one
``struct.pack`` per column: psycopg's own list dumper spends about 0.2 ms per 1,000
numbers, which was most of the statement's cost.

Measured on this machine (bench/tracking.py): a row per point by binary COPY, the previous
path, was at best about 250,000 points/s of raw COPY alone; a chunk row per key is one
index entry and a few compressed TOAST pages, whatever the batch's size.
"""
from __future__ import annotations

import struct
import sys
from array import array

from django.db import connection, transaction
from psycopg.adapt import Dumper
from psycopg.pq import Format

from accounts.access import run_change_sql
from core.db import execute_prepared, server_cursor

from ..models import IngestBatch, MetricChunk, MetricSummary, Run
from .metric_ingest import SUMMARY_COLUMNS, Series, fold, summary_upsert_set

_SUMMARY_TYPES = ("float8", "int8", "float8", "int8", "float8", "int8", "int8")
_INT8, _FLOAT8 = 20, 701  # element type oids
_INT8_ARRAY, _FLOAT8_ARRAY = 1016, 1022


class _Packed:
    """An array already in PostgreSQL's binary format (sent as it is)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Int8Array(_Packed):
    __slots__ = ()


class _Float8Array(_Packed):
    __slots__ = ()


class _Int8ArrayDumper(Dumper):
    format = Format.BINARY
    oid = _INT8_ARRAY

    def dump(self, obj: _Packed) -> bytes:
        return obj.data


class _Float8ArrayDumper(_Int8ArrayDumper):
    oid = _FLOAT8_ARRAY


_HEADER = struct.Struct(">iiiii")


def _pack(numbers: list, element_oid: int, code: str) -> bytes:
    """One dimension, no NULLs; then each element as its length (8) and its 8 bytes, big
    endian. The numbers go into an array in one call and are laid out in 12-byte slots by
    a strided copy per byte: about half the time of one ``struct.pack`` of 2n arguments."""
    n = len(numbers)
    items = array(code, numbers)
    if sys.byteorder == "little":
        items.byteswap()
    raw = items.tobytes()
    out = bytearray(12 * n)
    out[3::12] = b"\x08" * n
    for i in range(8):
        out[4 + i::12] = raw[i::8]
    return _HEADER.pack(1, 0, element_oid, n, 1) + out


def in_step_order(s: Series) -> Series:
    """``s`` with its points ordered by (step, time), the order a chunk is stored in (its
    readers rely on it); points equal on both keep the order they were sent in. A series
    that is in order already, as a training loop logs it, costs two list comparisons."""
    if s.steps == sorted(s.steps) and len(set(s.steps)) == len(s.steps):  # strictly increasing steps
        return s
    order_keys = list(zip(s.steps, s.timestamps))
    if order_keys == sorted(order_keys):
        return s
    order = sorted(range(len(order_keys)), key=order_keys.__getitem__)
    return Series(s.key, [s.steps[i] for i in order], [s.values[i] for i in order], [s.timestamps[i] for i in order])


def _chunk_rows(keys: int) -> str:
    return ", ".join(f"(%(key{i})s::text, %(lo{i})b::int8, %(hi{i})b::int8, %(steps{i})b, %(values{i})b, %(times{i})b)"
                     for i in range(keys))


def _more_chunks_sql(keys: int) -> str:
    """The chunks past the first ``KEYS_PER_STATEMENT`` keys of a batch with very many keys."""
    q = connection.ops.quote_name
    return (f"INSERT INTO {q(MetricChunk._meta.db_table)} (run_id, {q('key')}, origin, step_min, step_max, steps, "
            f"{q('values')}, timestamps) SELECT %(run)s, v.k, %(origin)s::int8, v.lo, v.hi, v.s, v.x, v.t "
            f"FROM (VALUES {_chunk_rows(keys)}) AS v(k, lo, hi, s, x, t)")


def _sql(with_batch_id: bool, keys: int, checked: bool) -> str:
    q = connection.ops.quote_name
    run, summary, batch, chunk = (q(m._meta.db_table) for m in (Run, MetricSummary, IngestBatch, MetricChunk))
    may = f" AND {run_change_sql('r', '%(user)s')}" if checked else ""
    claim = (f"INSERT INTO {batch} (run_id, batch_id, created_at) SELECT id, %(batch)s, now() FROM hold "
             f"ON CONFLICT (run_id, batch_id) DO NOTHING RETURNING 1") if with_batch_id else "SELECT 1 FROM hold"
    cols = ", ".join(q(c) for c in SUMMARY_COLUMNS)
    arrays = ", ".join(f"%({c})b::{t}[]" for c, t in zip(SUMMARY_COLUMNS, _SUMMARY_TYPES))
    rows = _chunk_rows(keys)
    return (
        f"WITH hold AS (SELECT id FROM {run} r WHERE id = %(run)s{may} FOR KEY SHARE), "
        f"claim AS ({claim}), "
        f"summaries AS (INSERT INTO {summary} (run_id, {q('key')}, {cols}) "
        f"SELECT %(run)s, u.* FROM unnest(%(skeys)b::text[], {arrays}) AS u "
        f"WHERE EXISTS (SELECT FROM claim) "
        f"ON CONFLICT (run_id, {q('key')}) DO UPDATE SET {summary_upsert_set()}), "
        f"points AS (INSERT INTO {chunk} (run_id, {q('key')}, origin, step_min, step_max, steps, {q('values')}, timestamps) "
        f"SELECT %(run)s, v.k, o.origin, v.lo, v.hi, v.s, v.x, v.t FROM (VALUES {rows}) AS v(k, lo, hi, s, x, t) "
        f"CROSS JOIN (SELECT %(origin)s::int8) AS o(origin) "
        f"WHERE EXISTS (SELECT FROM claim)) "
        f"SELECT EXISTS (SELECT FROM hold), EXISTS (SELECT FROM claim)"
    )


_STATEMENTS: dict[tuple[bool, int, bool], str] = {}
CACHED_KEYS = 16  # statements for batches of up to this many keys are kept (most batches have a few)
# Six parameters per key's chunk: PostgreSQL takes at most 65,535 in a statement, so a batch
# of very many keys (an MLflow log_batch of a point per key, say) stores the keys past these
# in further statements of the same transaction.
KEYS_PER_STATEMENT = 1000


def batch_store(run_id: int, series: list[Series], *, batch_id: str | None, origin: int | None,
                as_user: int | None = None) -> tuple[bool, bool]:
    """Hold the run, claim ``batch_id``, fold ``series`` into the summaries and store their
    points: one statement, in the open transaction if there is one (else it commits
    itself). With ``as_user`` (a user id) the run is held only if that user may log to it
    (``accounts.access.run_change_sql``). Returns (the run was held, the batch is new): when
    either is False nothing was written."""
    if len(series) > KEYS_PER_STATEMENT and not connection.in_atomic_block:
        with transaction.atomic():
            return batch_store(run_id, series, batch_id=batch_id, origin=origin, as_user=as_user)
    # Summary rows lock in key order: no deadlock between batches.
    ordered = [in_step_order(s) for s in sorted(series, key=lambda s: s.key)]
    first, rest = ordered[:KEYS_PER_STATEMENT], ordered[KEYS_PER_STATEMENT:]
    signature = (bool(batch_id), len(first), as_user is not None)
    sql = _STATEMENTS.get(signature) or _sql(*signature)
    if len(first) <= CACHED_KEYS:
        _STATEMENTS[signature] = sql
    folds = list(zip(*(fold(s) for s in ordered)))
    args = {"run": run_id, "user": as_user, "batch": batch_id, "origin": origin, "skeys": [s.key for s in ordered],
            **dict(zip(SUMMARY_COLUMNS, map(list, folds))), **_chunk_args(first)}
    connection.ensure_connection()
    raw = connection.connection
    if not getattr(raw, "_flowdeck_arrays", False):  # once per connection
        raw.adapters.register_dumper(_Int8Array, _Int8ArrayDumper)
        raw.adapters.register_dumper(_Float8Array, _Float8ArrayDumper)
        raw._flowdeck_arrays = True
    # Bound on the server (core.db): Django's cursors bind on the client, which would print
    # every number into the SQL text. Prepared once per connection: planning it was a third
    # of the database's time for a 1,000-point batch.
    with server_cursor() as cursor:
        execute_prepared(cursor, sql, args, prepare=len(first) <= CACHED_KEYS)
        held, stored = cursor.fetchone()
        for start in range(0, len(rest) if stored else 0, KEYS_PER_STATEMENT):
            part = rest[start:start + KEYS_PER_STATEMENT]
            cursor.execute(_more_chunks_sql(len(part)), {"run": run_id, "origin": origin, **_chunk_args(part)})
    return bool(held), bool(stored)


def _chunk_args(series: list[Series]) -> dict:
    args: dict = {}
    for i, s in enumerate(series):
        args[f"key{i}"] = s.key
        args[f"lo{i}"], args[f"hi{i}"] = min(s.steps), max(s.steps)
        args[f"steps{i}"] = _Int8Array(_pack(s.steps, _INT8, "q"))
        args[f"values{i}"] = _Float8Array(_pack(s.values, _FLOAT8, "d"))
        args[f"times{i}"] = _Int8Array(_pack(s.timestamps, _INT8, "q"))
    return args
