"""Recording what a run logs: metrics, params, tags and artifacts."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO

from django.db import connection, transaction
from django.utils import timezone

from accounts.access import token_is_run_scoped
from core import storage
from core.errors import Conflict, FlowdeckError, InvalidInput, NotFound

from ..models import Artifact, IngestBatch, Run, RunParam, RunTag
from ..numbers import text_number
from ..selectors import run_get_for_logging
from .metric_ingest import check_key, metrics_parse, points_store, summaries_update
from .metric_ingest_pg import batch_store

MAX_VALUE = 6000
MAX_PARAMS_PER_BATCH = 1_000
MAX_TAGS_PER_BATCH = 1_000


def _text(value, key: str, kind: str) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE:
        raise InvalidInput(f"{kind.capitalize()} '{key}' is longer than {MAX_VALUE} characters.", field=f"{kind}s")
    return text


def log_batch(
    *,
    run: Run,
    metrics: Iterable[Mapping] | Mapping = (),
    params: Mapping | None = None,
    tags: Mapping | None = None,
    batch_id: str | None = None,
    origin: int | None = None,
) -> bool:
    """Store a batch. With ``batch_id``, a batch that was already stored is a no-op.
    ``origin`` is the StepRun whose subprocess sent it (from its token), stored on each point.

    Metrics are points, ``[{"key", "value", "step"?, "timestamp"? (ms)}]``, or the compact
    form ``{key: {"value": [...], "step": [...]?, "timestamp": [...]?}}`` (see
    ``metric_ingest``). Everything is checked before anything is written, so a bad batch
    changes nothing. Returns False for a replay.
    """
    series, clean_params, clean_tags, batch_id = _clean(metrics, params, tags, batch_id)
    if series and connection.vendor == "postgresql":
        return _store_pg(run, series, clean_params, clean_tags, batch_id, origin)
    with transaction.atomic():
        if series:
            _run_hold(run)
        if batch_id and not _batch_claim(run, batch_id):
            return False
        _params_store(run, clean_params)
        _tags_store(run, clean_tags)
        if series:
            points_store(run, series, origin)
            summaries_update(run, series)
    return True


def log_batch_as(
    *, user, token, run_id: int, metrics: Iterable[Mapping] | Mapping = (), params: Mapping | None = None,
    tags: Mapping | None = None, batch_id: str | None = None,
) -> bool:
    """``log_batch`` for an API caller (a user, and the token they came with), to run
    ``run_id`` if they may log to it (``run_get_for_logging``'s rules). On PostgreSQL a batch
    of metrics alone, what the SDK's sender sends, is checked and stored by one statement
    (``accounts.access.run_change_sql`` holds the run only for a caller who may change it);
    only a refused one goes through ``run_get_for_logging``, to answer 404 or 403."""
    origin = getattr(token, "step_run_id", None)
    if connection.vendor != "postgresql" or params or tags or not metrics:
        run = run_get_for_logging(user=user, run_id=run_id, token=token)
        return log_batch(run=run, metrics=metrics, params=params, tags=tags, batch_id=batch_id, origin=origin)
    scoped = token_is_run_scoped(token)
    if scoped and token.run_id != run_id:
        raise NotFound(f"Run {run_id} was not found.")
    series, _, _, batch_id = _clean(metrics, None, None, batch_id)
    if not series:
        run_get_for_logging(user=user, run_id=run_id, token=token)
        return True
    held, stored = batch_store(run_id, series, batch_id=batch_id, origin=origin, as_user=None if scoped else user.pk)
    if not held:
        run_get_for_logging(user=user, run_id=run_id, token=token)  # 404 or 403, whichever it is
        raise NotFound(f"Run {run_id} was not found.")  # it was deleted as the batch came in
    return stored


def log_batch_body(*, user, token, run_id: int, body) -> bool:
    """``log_batch_as`` for a log-batch request's decoded JSON body (the API view and its
    fast path, ``runs.log_batch_fast``, both come here)."""
    if not isinstance(body, dict):
        run_get_for_logging(user=user, run_id=run_id, token=token)  # 404 and 403 first
        raise InvalidInput("The body must be a JSON object.")
    return log_batch_as(
        user=user, token=token, run_id=run_id, metrics=body.get("metrics") or [], params=body.get("params") or {},
        tags=body.get("tags") or {}, batch_id=body.get("batch_id") or None,
    )


def _clean(metrics, params, tags, batch_id) -> tuple[list, dict[str, str], dict[str, str], str | None]:
    """A batch checked whole (InvalidInput names what is wrong): its metrics as one Series
    per key, its params and tags as text, its batch id cut to 64 characters."""
    params, tags = dict(params or {}), dict(tags or {})
    if len(params) > MAX_PARAMS_PER_BATCH or len(tags) > MAX_TAGS_PER_BATCH:
        raise InvalidInput(f"A batch holds at most {MAX_PARAMS_PER_BATCH} params and tags.", field="params")
    if metrics is not None and not isinstance(metrics, list | Mapping):
        metrics = list(metrics)
    series = metrics_parse(metrics)
    clean_params = {check_key(k, "param"): _text(v, k, "param") for k, v in params.items()}
    clean_tags = {check_key(k, "tag"): _text(v, k, "tag") for k, v in tags.items()}
    return series, clean_params, clean_tags, (str(batch_id)[:64] if batch_id else None)


def _store_pg(run: Run, series: list, params: dict[str, str], tags: dict[str, str], batch_id: str | None,
              origin: int | None) -> bool:
    # The hot path: one statement for the run, the batch id, the summaries and the points.
    # A batch of metrics only (what the SDK's sender sends) needs no transaction of its own:
    # the statement is one, so it costs one round trip.
    if params or tags:
        with transaction.atomic():
            held, stored = batch_store(run.pk, series, batch_id=batch_id, origin=origin)
            if stored:
                _params_store(run, params)
                _tags_store(run, tags)
    else:
        held, stored = batch_store(run.pk, series, batch_id=batch_id, origin=origin)
    if not held:
        raise NotFound(f"Run {run.pk} was not found.")
    return stored


def _tags_store(run: Run, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        RunTag.objects.update_or_create(run=run, key=key, defaults={"value": value})


def _batch_claim(run: Run, batch_id: str) -> bool:
    """Record the batch id; False if it was already stored. One statement, no savepoint."""
    q = connection.ops.quote_name
    table = q(IngestBatch._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, batch_id, created_at) VALUES (%s, %s, %s) "
            f"ON CONFLICT (run_id, batch_id) DO NOTHING RETURNING 1",
            [run.pk, batch_id, timezone.now()],
        )
        return cursor.fetchone() is not None


def _run_hold(run: Run) -> None:
    """Stand in for the foreign key that Metric.run lacks in the database: the run must
    exist, and cannot be deleted until this transaction ends (KEY SHARE blocks a DELETE
    but not other batches). SQLite runs one writer at a time, so a plain read does."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(Run._meta.db_table)} WHERE id = %s{lock}", [run.pk])
        if cursor.fetchone() is None:
            raise NotFound(f"Run {run.pk} was not found.")


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
        [RunParam(run=run, key=k, value=v, value_num=text_number(v)) for k, v in params.items() if k not in existing]
    )


# --- artifacts --------------------------------------------------------------------------------
def _storage_check(run: Run, adding: int) -> None:
    from accounts.models import Team
    from accounts.services import quota_storage_check

    quota_storage_check(team=Team.objects.get(pk=run.namespace_id), adding=adding, what="this artifact")


def artifact_upload_target(*, run: Run, path: str) -> dict:
    """Where a client should PUT an artifact's bytes: a presigned S3 URL, or the server."""
    _storage_check(run, 1)  # a team already at its storage quota gets no upload URL
    key = storage.artifact_key(run.pk, path)
    return {"path": storage.clean_relpath(path), "url": storage.upload_url(key)}


def artifact_put(*, run: Run, path: str, content: IO[bytes] | bytes) -> Artifact:
    """Store bytes sent through the server (local storage, or clients without S3 access)."""
    key = storage.artifact_key(run.pk, path)
    known = len(content) if isinstance(content, bytes | bytearray) else getattr(content, "size", None)
    if known:  # refused before a byte is stored, when the size is known up front
        _storage_check(run, known - _stored_size(run, storage.clean_relpath(path)))
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
    _storage_check(run, size)
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


def _stored_size(run: Run, path: str) -> int:
    return Artifact.objects.filter(run=run, path=path).values_list("size", flat=True).first() or 0


def _artifact_record(run: Run, path: str, size: int) -> Artifact:
    # Every stored artifact passes here: bytes past the team's storage quota are deleted again.
    before = _stored_size(run, path)
    try:
        _storage_check(run, size - before)
    except FlowdeckError:
        if not before:
            storage.delete(storage.artifact_key(run.pk, path))
        raise
    artifact, _ = Artifact.objects.update_or_create(run=run, path=path, defaults={"size": size})
    return artifact
