"""Recording what a run logs: metrics, params, tags and artifacts."""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import IO

from django.db import IntegrityError, connection, transaction

from core import storage
from core.errors import Conflict, InvalidInput, NotFound

from ..models import Artifact, IngestBatch, Metric, MetricSummary, Run, RunParam, RunTag

MAX_KEY = 250
MAX_VALUE = 6000
MAX_METRICS_PER_BATCH = 100_000
MAX_PARAMS_PER_BATCH = 1_000
MAX_TAGS_PER_BATCH = 1_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # steps and timestamps are BIGINT


def _key(key, kind: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} key must be a non-empty string, got {key!r}.", field=f"{kind}s")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"{kind.capitalize()} key '{key[:40]}…' is longer than {MAX_KEY} characters.", field=f"{kind}s")
    if "\x00" in key:
        raise InvalidInput(f"{kind.capitalize()} key {key[:40]!r} has a NUL character.", field=f"{kind}s")
    return key


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"Metric '{key}' has a non-numeric value {value!r}.", field="metrics")
    value = float(value)
    if not math.isfinite(value):
        # Refused, not stored: a NaN loss is almost always a bug the author wants to see.
        raise InvalidInput(f"Metric '{key}' is {value}; NaN and infinity are refused.", field="metrics")
    return value


def _text(value, key: str, kind: str) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE:
        raise InvalidInput(f"{kind.capitalize()} '{key}' is longer than {MAX_VALUE} characters.", field=f"{kind}s")
    return text


def log_batch(
    *,
    run: Run,
    metrics: Iterable[Mapping] = (),
    params: Mapping | None = None,
    tags: Mapping | None = None,
    batch_id: str | None = None,
    origin: int | None = None,
) -> bool:
    """Store a batch. With ``batch_id``, a batch that was already stored is a no-op.
    ``origin`` is the StepRun whose subprocess sent it (from its token), stored on each point.

    Metrics are ``{"key", "value", "step"?, "timestamp"? (ms)}``. Everything is checked
    before anything is written, so a bad batch changes nothing. Returns False for a replay.
    """
    metrics = list(metrics)
    params, tags = dict(params or {}), dict(tags or {})
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidInput(f"A batch holds at most {MAX_METRICS_PER_BATCH} metric points.", field="metrics")
    if len(params) > MAX_PARAMS_PER_BATCH or len(tags) > MAX_TAGS_PER_BATCH:
        raise InvalidInput(f"A batch holds at most {MAX_PARAMS_PER_BATCH} params and tags.", field="params")
    now_ms = int(time.time() * 1000)
    points: list[Point] = []
    keys_ok: set[str] = set()  # a batch repeats a few keys thousands of times: check each once
    for m in metrics:
        if not isinstance(m, Mapping):
            raise InvalidInput("Each metric must be an object with key and value.", field="metrics")
        key = m.get("key")
        if type(key) is not str or key not in keys_ok:
            keys_ok.add(_key(key, "metric"))
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
            value = _number(value, key)
        points.append((key, step, value, ts))
    clean_params = {_key(k, "param"): _text(v, k, "param") for k, v in params.items()}
    clean_tags = {_key(k, "tag"): _text(v, k, "tag") for k, v in tags.items()}

    with transaction.atomic():
        if points:
            _run_hold(run)
        if batch_id:
            try:
                with transaction.atomic():
                    IngestBatch.objects.create(run=run, batch_id=str(batch_id)[:64])
            except IntegrityError:
                return False
        _params_store(run, clean_params)
        for key, value in clean_tags.items():
            RunTag.objects.update_or_create(run=run, key=key, defaults={"value": value})
        if points:
            _points_store(run, points, origin)
            _summaries_update(run, points)
    return True


Point = tuple[str, int, float, int]  # key, step, value, timestamp_ms: checked, ready to store


def _run_hold(run: Run) -> None:
    """Stand in for the foreign key that Metric.run lacks in the database: the run must
    exist, and cannot be deleted until this transaction ends (KEY SHARE blocks a DELETE
    but not other batches). SQLite runs one writer at a time, so a plain read does."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(Run._meta.db_table)} WHERE id = %s{lock}", [run.pk])
        if cursor.fetchone() is None:
            raise NotFound(f"Run {run.pk} was not found.")


def _points_store(run: Run, points: list[Point], origin: int | None = None) -> None:
    if connection.vendor == "postgresql":
        # COPY is several times faster than a multi-row INSERT built by the ORM, which
        # spends most of its time making a model instance and SQL placeholders per point.
        # The rows are written as COPY text by hand: a key is escaped once, not per point,
        # and repr() of a finite float reads back exactly.
        table = connection.ops.quote_name(Metric._meta.db_table)
        prefix: dict[str, str] = {}
        tail = "\\N\n" if origin is None else f"{int(origin)}\n"
        lines = []
        for key, step, value, ts in points:
            head = prefix.get(key)
            if head is None:
                head = prefix[key] = f"{run.pk}\t{_copy_escape(key)}\t"
            lines.append(f"{head}{step}\t{value!r}\t{ts}\t{tail}")
        with connection.cursor() as cursor:
            columns = "run_id, key, step, value, timestamp_ms, origin"
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for start in range(0, len(lines), 10_000):
                    copy.write("".join(lines[start:start + 10_000]))
        return
    Metric.objects.bulk_create(
        [Metric(run=run, key=k, step=s, value=v, timestamp_ms=t, origin=origin) for k, s, v, t in points], batch_size=2000
    )


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _params_store(run: Run, params: dict[str, str]) -> None:
    if not params:
        return
    existing = dict(RunParam.objects.filter(run=run, key__in=params).values_list("key", "value"))
    for key, value in params.items():
        if key in existing and existing[key] != value:
            raise InvalidInput(
                f"Param '{key}' was already logged as {existing[key]!r}; params cannot change (got {value!r}).",
                field="params",
            )
    RunParam.objects.bulk_create(
        [RunParam(run=run, key=k, value=v) for k, v in params.items() if k not in existing]
    )


def _summaries_update(run: Run, points: list[Point]) -> None:
    """Fold a batch into the per-key summaries with one upsert. Every SET expression reads
    the row as it was, so ``last`` follows the larger step whether the batch or the stored
    summary has it; keys go in sorted order so concurrent batches lock rows alike."""
    agg: dict[str, list] = {}
    for key, step, value, _ts in points:
        a = agg.get(key)
        if a is None:
            agg[key] = [value, step, value, value, 1]  # last, last_step, min, max, count
            continue
        if step >= a[1]:
            a[0], a[1] = value, step
        if value < a[2]:
            a[2] = value
        if value > a[3]:
            a[3] = value
        a[4] += 1
    q = connection.ops.quote_name
    table = q(MetricSummary._meta.db_table)
    greatest, least = ("GREATEST", "LEAST") if connection.vendor == "postgresql" else ("MAX", "MIN")
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(agg))
    params: list = []
    for key in sorted(agg):
        params.extend([run.pk, key, *agg[key]])
    last, last_step, lo, hi, count = (q(c) for c in ("last", "last_step", "min", "max", "count"))
    sql = (
        f"INSERT INTO {table} (run_id, {q('key')}, {last}, {last_step}, {lo}, {hi}, {count}) VALUES {rows} "
        f"ON CONFLICT (run_id, {q('key')}) DO UPDATE SET "
        f"{last} = CASE WHEN EXCLUDED.{last_step} >= {table}.{last_step} THEN EXCLUDED.{last} ELSE {table}.{last} END, "
        f"{last_step} = {greatest}({table}.{last_step}, EXCLUDED.{last_step}), "
        f"{lo} = {least}({table}.{lo}, EXCLUDED.{lo}), "
        f"{hi} = {greatest}({table}.{hi}, EXCLUDED.{hi}), "
        f"{count} = {table}.{count} + EXCLUDED.{count}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- artifacts --------------------------------------------------------------------------------
def artifact_upload_target(*, run: Run, path: str) -> dict:
    """Where a client should PUT an artifact's bytes: a presigned S3 URL, or the server."""
    key = storage.artifact_key(run.pk, path)
    return {"path": storage.clean_relpath(path), "url": storage.upload_url(key)}


def artifact_put(*, run: Run, path: str, content: IO[bytes] | bytes) -> Artifact:
    """Store bytes sent through the server (local storage, or clients without S3 access)."""
    key = storage.artifact_key(run.pk, path)
    size = storage.put(key, content)
    return _artifact_record(run, storage.clean_relpath(path), size)


def artifact_commit(*, run: Run, path: str) -> Artifact:
    """Record an artifact a client uploaded straight to the store."""
    key = storage.artifact_key(run.pk, path)
    if not storage.exists(key):
        raise NotFound(f"Artifact '{path}' was not uploaded.", field="path")
    return _artifact_record(run, storage.clean_relpath(path), storage.size(key))


MiB = 1024 * 1024
# S3's rules: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them.
MULTIPART_MIN_PART = 5 * MiB
MULTIPART_MAX_PART = 5 * 1024 * MiB
MULTIPART_MAX_PARTS = 10_000
MULTIPART_DEFAULT_PART = 16 * MiB
MULTIPART_MAX_SIZE = 5 * 1024 * 1024 * MiB


def artifact_multipart_start(*, run: Run, path: str, size: int, part_size: int | None = None) -> dict:
    """Begin a multipart upload straight to the store: the upload id, the part size, and
    a presigned PUT URL per part. Conflict (``multipart_unsupported``) on local storage,
    where the client sends the file through the server instead."""
    if not storage.multipart_supported():
        raise Conflict("This server stores files locally; upload through the server instead.", code="multipart_unsupported")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MULTIPART_MAX_SIZE:
        raise InvalidInput(f"size must be between 1 byte and 5 TiB, got {size!r}.", field="size")
    wished = part_size or MULTIPART_DEFAULT_PART
    part = min(max(wished, MULTIPART_MIN_PART), MULTIPART_MAX_PART)
    part = max(part, -(-size // MULTIPART_MAX_PARTS))  # large enough for at most 10,000 parts
    count = -(-size // part)
    key = storage.artifact_key(run.pk, path)
    upload_id = storage.multipart_start(key)
    urls = storage.multipart_part_urls(key, upload_id, count)
    return {
        "path": storage.clean_relpath(path),
        "upload_id": upload_id,
        "part_size": part,
        "parts": [{"number": i, "url": url} for i, url in enumerate(urls, start=1)],
    }


def artifact_multipart_complete(*, run: Run, path: str, upload_id: str, parts: list[Mapping]) -> Artifact:
    """Assemble the parts a client uploaded and record the artifact."""
    if not storage.multipart_supported():
        raise Conflict("This server stores files locally; there is no multipart upload.", code="multipart_unsupported")
    numbered: list[tuple[int, str]] = []
    for p in parts:
        number, etag = p.get("number"), p.get("etag")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MULTIPART_MAX_PARTS:
            raise InvalidInput(f"Part number {number!r} is not between 1 and {MULTIPART_MAX_PARTS}.", field="parts")
        if not isinstance(etag, str) or not etag:
            raise InvalidInput(f"Part {number} has no ETag.", field="parts")
        numbered.append((number, etag))
    numbered.sort()
    if not numbered or [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise InvalidInput("parts must be numbered 1..N, each once.", field="parts")
    key = storage.artifact_key(run.pk, path)
    size = storage.multipart_complete(key, upload_id, numbered)
    return _artifact_record(run, storage.clean_relpath(path), size)


def artifact_multipart_abort(*, run: Run, path: str, upload_id: str) -> None:
    """Drop an unfinished multipart upload and the parts it stored."""
    if storage.multipart_supported():
        storage.multipart_abort(storage.artifact_key(run.pk, path), upload_id)


def _artifact_record(run: Run, path: str, size: int) -> Artifact:
    artifact, _ = Artifact.objects.update_or_create(run=run, path=path, defaults={"size": size})
    return artifact
