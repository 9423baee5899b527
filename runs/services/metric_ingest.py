"""Metric points of a log-batch: checked, stored, folded into the per-key summaries.

A batch's ``metrics`` come in one of two forms, checked by the same rules:

- points: ``[{"key", "value", "step"?, "timestamp"? (ms)}, ...]``;
- compact (columnar, what the SDK sends): ``{"<key>": {"value": [...], "step": [...]?,
  "timestamp": [...]?}, ...}``, the lists of one key being of equal length. It costs the
  client and the server no object per point, and about a third of the bytes.

Both become one ``Series`` per key (columns, in the order the points were sent), which the
rest of the path works on with whole-list operations (``min``, ``sum``, ``str.join``)
rather than a Python loop per point where it can.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connection

from core.errors import InvalidInput

from ..models import Metric, MetricSummary, Run

MAX_KEY = 250
MAX_METRICS_PER_BATCH = 100_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # steps and timestamps are BIGINT


@dataclass
class Series:
    """The points of one key in a batch, as columns of equal length, in the order sent."""

    key: str
    steps: list[int]
    values: list[float]
    timestamps: list[int]


def check_key(key, kind: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} key must be a non-empty string, got {key!r}.", field=f"{kind}s")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"{kind.capitalize()} key '{key[:40]}…' is longer than {MAX_KEY} characters.", field=f"{kind}s")
    if "\x00" in key:
        raise InvalidInput(f"{kind.capitalize()} key {key[:40]!r} has a NUL character.", field=f"{kind}s")
    return key


def check_number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"Metric '{key}' has a non-numeric value {value!r}.", field="metrics")
    try:
        value = float(value)
    except OverflowError:
        raise InvalidInput(f"Metric '{key}' has a value too large for a float.", field="metrics") from None
    if not math.isfinite(value):
        # Refused, not stored: a NaN loss is almost always a bug the author wants to see.
        raise InvalidInput(f"Metric '{key}' is {value}; NaN and infinity are refused.", field="metrics")
    return value


def metrics_parse(metrics, *, now_ms: int | None = None) -> list[Series]:
    """Check a batch's metrics (either form) and return them as one Series per key.
    Raises InvalidInput (field ``metrics``) naming the key, the limit or the bad value."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if metrics is None:
        return []
    if isinstance(metrics, list):
        return _points_parse(metrics, now_ms)
    if isinstance(metrics, Mapping):
        return _compact_parse(metrics, now_ms)
    raise InvalidInput("metrics must be a list of points or an object of columns per key.", field="metrics")


def _too_many() -> InvalidInput:
    return InvalidInput(f"A batch holds at most {MAX_METRICS_PER_BATCH} metric points.", field="metrics")


def _points_parse(metrics: list, now_ms: int) -> list[Series]:
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise _too_many()
    by_key: dict[str, Series] = {}
    for m in metrics:
        if not isinstance(m, Mapping):
            raise InvalidInput("Each metric must be an object with key and value.", field="metrics")
        key = m.get("key")
        series = by_key.get(key) if type(key) is str else None
        if series is None:
            series = by_key[check_key(key, "metric")] = Series(key, [], [], [])
        step = m.get("step", 0) or 0
        if type(step) is not int and (isinstance(step, bool) or not isinstance(step, int)):
            raise InvalidInput(f"Metric '{key}' has a non-integer step {step!r}.", field="metrics")
        ts = m.get("timestamp") or now_ms
        if type(ts) is not int:
            if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
                raise InvalidInput(f"Metric '{key}' has a bad timestamp {ts!r}; send milliseconds.", field="metrics")
            ts = int(ts)
        if not (INT64_MIN <= step <= INT64_MAX and INT64_MIN <= ts <= INT64_MAX):
            raise InvalidInput(f"Metric '{key}' has a step or timestamp out of range.", field="metrics")
        value = m.get("value")
        if type(value) is not float or not math.isfinite(value):
            value = check_number(value, key)
        series.steps.append(step)
        series.values.append(value)
        series.timestamps.append(ts)
    return list(by_key.values())


def _compact_parse(metrics: Mapping, now_ms: int) -> list[Series]:
    total = 0
    out = []
    for key, columns in metrics.items():
        check_key(key, "metric")
        if not isinstance(columns, Mapping):
            raise InvalidInput(f"Metric '{key}' must be an object of lists: value, step, timestamp.", field="metrics")
        unknown = set(columns) - {"value", "step", "timestamp"}
        if unknown:
            raise InvalidInput(f"Metric '{key}' has unknown columns {sorted(unknown)}.", field="metrics")
        values = columns.get("value")
        if not isinstance(values, list):
            raise InvalidInput(f"Metric '{key}' needs a list 'value'.", field="metrics")
        n = len(values)
        total += n
        if total > MAX_METRICS_PER_BATCH:
            raise _too_many()
        for name in ("step", "timestamp"):
            column = columns.get(name)
            if column is not None and (not isinstance(column, list) or len(column) != n):
                raise InvalidInput(f"Metric '{key}': '{name}' must be a list as long as 'value' ({n}).", field="metrics")
        if not n:
            continue
        out.append(Series(
            key,
            _int_column(columns.get("step"), key, "step", n, default=0),
            _value_column(values, key),
            _int_column(columns.get("timestamp"), key, "timestamp", n, default=now_ms),
        ))
    return out


def _value_column(values: list, key: str) -> list[float]:
    kinds = set(map(type, values))
    if not kinds <= {float}:
        if not kinds <= {float, int}:  # bool, str, None, ... : find it to name it
            for v in values:
                check_number(v, key)
        try:
            values = [float(v) for v in values]
        except OverflowError:
            raise InvalidInput(f"Metric '{key}' has a value too large for a float.", field="metrics") from None
    # One NaN or infinity makes the sum NaN or infinite; a finite sum proves every value finite.
    # (A sum can also overflow from finite values: only then is each one looked at.)
    if not math.isfinite(sum(values)):
        for v in values:
            check_number(v, key)
    return values


def _int_column(column: list | None, key: str, name: str, n: int, *, default: int) -> list[int]:
    if column is None:
        return [default] * n
    kinds = set(map(type, column))
    if not kinds <= {int}:
        fixed = []
        for v in column:
            if v is None:  # as in the points form: a missing step is 0, a missing timestamp now
                v = default
            elif name == "timestamp" and type(v) is float and math.isfinite(v):
                v = int(v)
            elif type(v) is not int:
                what = "a bad timestamp" if name == "timestamp" else "a non-integer step"
                raise InvalidInput(f"Metric '{key}' has {what} {v!r}.", field="metrics")
            fixed.append(v)
        column = fixed
    if name == "timestamp" and 0 in column:
        column = [v or default for v in column]
    if min(column) < INT64_MIN or max(column) > INT64_MAX:
        raise InvalidInput(f"Metric '{key}' has a {name} out of range.", field="metrics")
    return column


# --- storing ------------------------------------------------------------------------------------
def points_store(run: Run, batch: list[Series], origin: int | None = None) -> None:
    """The SQLite path: a row per point. (PostgreSQL stores a chunk per key in the
    statement of ``metric_ingest_pg``.)"""
    Metric.objects.bulk_create(
        [Metric(run=run, key=s.key, step=st, value=v, timestamp_ms=t, origin=origin)
         for s in batch for st, v, t in zip(s.steps, s.values, s.timestamps, strict=True)],
        batch_size=2000,
    )


def fold(s: Series) -> tuple:
    """(last, last_step, min, min_step, max, max_step, count) of one key's points in a batch.
    ``last`` is the value at the largest step (the later point on a tie); a min or max
    step is the earliest step at which that value was reached."""
    steps, values = s.steps, s.values
    top = max(steps)
    at = len(steps) - 1 - steps[::-1].index(top)
    lo, hi = min(values), max(values)
    lo_step = steps[values.index(lo)] if values.count(lo) == 1 else min(st for st, v in zip(steps, values) if v == lo)
    hi_step = steps[values.index(hi)] if values.count(hi) == 1 else min(st for st, v in zip(steps, values) if v == hi)
    return values[at], top, lo, lo_step, hi, hi_step, len(values)


SUMMARY_COLUMNS = ("last", "last_step", "min", "min_step", "max", "max_step", "count")


def summary_upsert_set() -> str:
    """The ``ON CONFLICT ... DO UPDATE SET`` that folds a batch's summary (``EXCLUDED``) into
    the stored one. Every SET expression reads the row as it was, so ``last`` follows the
    larger step whether the batch or the stored summary has it, and a min or max step the
    earlier step on a tie."""
    q = connection.ops.quote_name
    t, x = q(MetricSummary._meta.db_table), "EXCLUDED"
    greatest, least = ("GREATEST", "LEAST") if connection.vendor == "postgresql" else ("MAX", "MIN")
    last, last_step, lo, lo_step, hi, hi_step, count = (q(c) for c in SUMMARY_COLUMNS)
    return (
        f"{last} = CASE WHEN {x}.{last_step} >= {t}.{last_step} THEN {x}.{last} ELSE {t}.{last} END, "
        f"{last_step} = {greatest}({t}.{last_step}, {x}.{last_step}), "
        f"{lo_step} = CASE WHEN {x}.{lo} < {t}.{lo} OR {t}.{lo_step} IS NULL THEN {x}.{lo_step} "
        f"WHEN {x}.{lo} = {t}.{lo} THEN {least}({t}.{lo_step}, {x}.{lo_step}) ELSE {t}.{lo_step} END, "
        f"{hi_step} = CASE WHEN {x}.{hi} > {t}.{hi} OR {t}.{hi_step} IS NULL THEN {x}.{hi_step} "
        f"WHEN {x}.{hi} = {t}.{hi} THEN {least}({t}.{hi_step}, {x}.{hi_step}) ELSE {t}.{hi_step} END, "
        f"{lo} = {least}({t}.{lo}, {x}.{lo}), {hi} = {greatest}({t}.{hi}, {x}.{hi}), {count} = {t}.{count} + {x}.{count}"
    )


def summaries_update(run: Run, batch: list[Series]) -> None:
    """Fold a batch into the per-key summaries with one upsert (the SQLite path; PostgreSQL
    does it in the statement of ``metric_ingest_pg``). Keys go in sorted order so concurrent
    batches lock rows alike."""
    if not batch:
        return
    q = connection.ops.quote_name
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
    params: list = []
    for s in sorted(batch, key=lambda s: s.key):
        params.extend([run.pk, s.key, *fold(s)])
    sql = (
        f"INSERT INTO {q(MetricSummary._meta.db_table)} (run_id, {q('key')}, {', '.join(q(c) for c in SUMMARY_COLUMNS)}) "
        f"VALUES {rows} ON CONFLICT (run_id, {q('key')}) DO UPDATE SET {summary_upsert_set()}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
