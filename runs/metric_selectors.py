"""Reading one metric's history: whole (JSON), streamed (JSON lines or CSV) or downsampled.

On PostgreSQL the work is done by the database, over the chunks a series is stored in
(``metric_chunks``): the whole history is one string, an export is a chunk's text at a
time, and a sample is one GROUP BY over step buckets, so no path makes a Python object per
point.
SQLite (the embedded default) gets the same answers from plain queries.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.db import connection

from core.errors import InvalidInput

from . import metric_chunks
from .models import Metric, MetricSummary, Run

CHART_POINTS = 2000  # what a chart asks for: enough for a screen's width, never millions
MAX_SAMPLE_POINTS = 10_000
EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
_CHUNK = 10_000


def _table() -> str:
    return connection.ops.quote_name(Metric._meta.db_table)


def metric_history_json(*, run: Run, key: str, columns: bool = False) -> str:
    """Every point of ``key``, ordered by step then time, as the JSON text of ``{"key",
    "points": [{"step", "value", "timestamp"}]}``, or with ``columns`` of ``{"key", "step":
    [...], "value": [...], "timestamp": [...]}`` (half the bytes, and far quicker to decode)."""
    if connection.vendor == "postgresql":
        return f'{{"key": {json.dumps(key)}, {metric_chunks.history_json_body(run.pk, key, columns=columns)}}}'
    rows = list(_rows(run, key))
    if columns:
        return json.dumps({"key": key, "step": [r[0] for r in rows], "value": [r[1] for r in rows],
                           "timestamp": [r[2] for r in rows]})
    return json.dumps({"key": key, "points": [{"step": s, "value": v, "timestamp": t} for s, v, t in rows]})


def _rows(run: Run, key: str):
    return (Metric.objects.filter(run=run, key=key).order_by("step", "timestamp_ms")
            .values_list("step", "value", "timestamp_ms").iterator(chunk_size=_CHUNK))


def metric_export(*, run: Run, key: str, fmt: str) -> Iterator[bytes]:
    """Every point of ``key`` as JSON lines (``{"step", "value", "timestamp"}``) or CSV
    (``step,value,timestamp`` with a header), in blocks, never the whole series in memory."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}.", field="format")
    if connection.vendor == "postgresql":
        return _export_copy(run.pk, key, fmt)
    return _export_rows(run, key, fmt)


def _export_copy(run_id: int, key: str, fmt: str) -> Iterator[bytes]:
    # float8 is printed in its shortest exact form (extra_float_digits = 1, the default since
    # PostgreSQL 12), so every value reads back equal to what was logged.
    if fmt == "csv":
        yield b"step,value,timestamp\n"
    yield from metric_chunks.export_blocks(run_id, key, fmt)


def _export_rows(run: Run, key: str, fmt: str) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["step", "value", "timestamp"])
    for i, (step, value, ts) in enumerate(_rows(run, key), start=1):
        if fmt == "csv":
            writer.writerow([step, repr(value), ts])
        else:
            buffer.write(f'{{"step": {step}, "value": {value!r}, "timestamp": {ts}}}\n')
        if i % _CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def max_points_param(raw: str | None) -> int:
    if raw is None or raw == "":
        return CHART_POINTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 10 <= value <= MAX_SAMPLE_POINTS:
        raise InvalidInput(f"max_points must be a whole number from 10 to {MAX_SAMPLE_POINTS}, got {raw!r}.",
                           field="max_points")
    return value


def metric_sampled(*, run: Run, key: str, max_points: int = CHART_POINTS) -> dict:
    """At most ``max_points`` points of ``key`` that keep the curve's shape, for charts:
    ``{"key", "total", "sampled", "points": [{"step", "value", "timestamp"}]}``.

    A series that fits is returned whole. A longer one is cut into ``(max_points - 2) // 2``
    buckets of equal step range, and each bucket gives its lowest and its highest point (the
    earliest step on a tie), so every spike and dip survives; the first and last points are
    always kept. Ordered by step then time."""
    summary = MetricSummary.objects.filter(run=run, key=key).values_list("count", flat=True).first()
    total = summary or 0
    if total <= max_points:
        rows = list(_rows(run, key))
        sampled = False
    else:
        buckets = max(1, (max_points - 2) // 2)
        rows = _sample_sql(run.pk, key, buckets) if connection.vendor == "postgresql" else _sample_rows(run, key, buckets)
        sampled = True
    return {"key": key, "total": total, "sampled": sampled,
            "points": [{"step": s, "value": v, "timestamp": t} for s, v, t in rows]}


def metric_sampled_many(*, runs: list[Run], key: str, totals: dict[int, int], max_points: int) -> dict[int, dict]:
    """``metric_sampled`` of one key for many runs (``totals``: run id -> the key's point
    count, from its summary): run id -> the same answer. On PostgreSQL the long series are
    sampled together (``metric_chunks.sample_many``), in two queries rather than three each."""
    out: dict[int, dict] = {}
    long = [run for run in runs if totals.get(run.pk, 0) > max_points]
    if connection.vendor != "postgresql" or not long:
        return {run.pk: metric_sampled(run=run, key=key, max_points=max_points) for run in runs}
    sampled = metric_chunks.sample_many([(run.pk, key) for run in long], max(1, (max_points - 2) // 2))
    for run in runs:
        if totals.get(run.pk, 0) <= max_points:
            out[run.pk] = metric_sampled(run=run, key=key, max_points=max_points)
            continue
        out[run.pk] = {"key": key, "total": totals[run.pk], "sampled": True, "points": [
            {"step": s, "value": v, "timestamp": t} for s, v, t in sampled.get((run.pk, key), [])]}
    return out


def _sample_sql(run_id: int, key: str, buckets: int) -> list[tuple]:
    """The sample on PostgreSQL: the batched sampler, for one series (the database does the
    work, no Python object per point)."""
    return metric_chunks.sample_many([(run_id, key)], buckets).get((run_id, key), [])


def _sample_rows(run: Run, key: str, buckets: int) -> list[tuple]:
    """The same sample as ``_sample_sql``, streamed through Python (SQLite)."""
    span = Metric.objects.filter(run=run, key=key).order_by("step").values_list("step", flat=True)
    lo, hi = span.first(), span.last()
    width = max(hi - lo, 1)
    keep: dict[int, list] = {}  # bucket -> [lowest row, highest row]
    first = last = None
    for row in _rows(run, key):
        step, value, _ts = row
        first = first or row
        last = row
        b = min(buckets - 1, int((step - lo) / width * buckets))
        pair = keep.get(b)
        if pair is None:
            keep[b] = [row, row]
            continue
        if value < pair[0][1]:
            pair[0] = row
        if value > pair[1][1]:
            pair[1] = row
    chosen = {first, last, *(r for pair in keep.values() for r in pair)}
    return sorted(chosen, key=lambda r: (r[0], r[2]))


def metric_series_sampled(*, run: Run, max_points: int = CHART_POINTS) -> dict[str, dict[str, list]]:
    """Every metric of a run as {key: {"step": [...], "value": [...]}}, each downsampled
    to at most ``max_points`` points, for the run page's chart."""
    series = {}
    for key in MetricSummary.objects.filter(run=run).order_by("key").values_list("key", flat=True):
        points = metric_sampled(run=run, key=key, max_points=max_points)["points"]
        series[key] = {"step": [p["step"] for p in points], "value": [p["value"] for p in points]}
    return series
