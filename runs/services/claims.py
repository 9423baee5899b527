"""The executor's bookkeeping of a step: claiming it (queued -> running) and recording how
it ended, both conditional, so that no step is ever run or recorded twice.

These run once per step, so they are plain SQL rather than ORM queries (building the
query cost more than running it), prepared on PostgreSQL (``core.db``), where a batch also
records one step and claims the next in a single statement.
"""
from __future__ import annotations

import json
import os
import socket

from django.db import connection
from django.db.models import F
from django.utils import timezone

from core.db import run_prepared

from ..models import StepRun, StepStatus
from ..worker_registry import node_name

_T = StepRun._meta.db_table
# Pick one queued step (``{pick}``), lock it (SKIP LOCKED: two workers never wait on each
# other) and claim it, in one statement.
_CLAIM_ONE = f"""
UPDATE {_T} SET status = 'running', started_at = %s, heartbeat_at = %s, finished_at = NULL, worker = %s,
       attempt = attempt + 1, exit_code = NULL, error = ''
 WHERE id = (SELECT id FROM {_T} WHERE {{pick}} AND status = 'queued' ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED)
   AND status = 'queued'
RETURNING id, run_id, name, attempt, resource_class"""
_CLAIM = _CLAIM_ONE.format(pick="id = ANY(%s)")
# A batch that ran out of its own steps helps the others of its run: any step of the same
# run and resource class still waiting for its first attempt (a retry waits for its backoff).
_STEAL = _CLAIM_ONE.format(pick="run_id = %s AND resource_class = %s AND attempt = 0")
_RECORD = (f"UPDATE {_T} SET status = %s, finished_at = %s, error = %s, exit_code = %s, outputs = %s, "
           "log_key = %s, log_size = %s, log_inline = %s WHERE id = %s AND status = 'running' AND attempt = %s")
# Both in one statement, so one round trip and one commit: the claim picks another row
# (the recorded one is not queued), and SKIP LOCKED keeps two workers from waiting on each other.
_RECORD_AND = """
WITH recorded AS ({record} RETURNING 1), claimed AS ({claim})
SELECT (SELECT count(*) FROM recorded), claimed.* FROM (VALUES (1)) AS one LEFT JOIN claimed ON true"""
_RECORD_AND_CLAIM = _RECORD_AND.format(record=_RECORD, claim=_CLAIM)
_RECORD_AND_STEAL = _RECORD_AND.format(record=_RECORD, claim=_STEAL)


def worker_name() -> str:
    """``<celery node>:<pid>`` (e.g. ``gpu-1@box:1234``), the pool process running the step."""
    return f"{node_name() or socket.gethostname()}:{os.getpid()}"


def claim(step_run_id: int) -> bool:
    """queued -> running, once. A redelivered or duplicate message changes nothing."""
    return claim_next([step_run_id]) is not None


def claim_next(step_run_ids: list[int]) -> StepRun | None:
    """Claim the first step of ``step_run_ids`` (in dependency order) that is still queued.
    Returns it (its ``run`` not loaded), or None when none of them is queued."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        return _claimed(run_prepared(_CLAIM, _claim_params(now, step_run_ids))[0], now)
    queued = StepRun.objects.filter(pk__in=step_run_ids, status=StepStatus.QUEUED).order_by("position")
    for pk in queued.values_list("pk", flat=True):
        if StepRun.objects.filter(pk=pk, status=StepStatus.QUEUED).update(
            status=StepStatus.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, worker=worker_name(),
            attempt=F("attempt") + 1, exit_code=None, error="",
        ):
            return StepRun.objects.get(pk=pk)
    return None


def claim_sibling(step: StepRun) -> StepRun | None:
    """Claim a step of ``step``'s run and resource class that another batch holds but has
    not started (PostgreSQL only; elsewhere batches do not help each other)."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    return _claimed(run_prepared(_STEAL, _steal_params(now, step))[0], now)


def step_record(
    step: StepRun, *, status: str, error: str, exit_code: int | None, outputs: dict, log_key: str, log_size: int,
    log_inline: bytes | None = None, claim_from: list[int] | None = None,
) -> tuple[bool, StepRun | None]:
    """Record how this attempt of ``step`` ended (``queued`` again for a retry), if it is
    still this attempt's: a step the reaper took back (no heartbeat) and another worker runs
    now is theirs to record. With ``claim_from``, also claim the next of those steps; an
    empty ``claim_from`` (a batch done with its own steps) claims one that another batch of
    the run holds but has not started, as ``claim_sibling`` does. Returns (recorded, the
    step claimed or None)."""
    now = timezone.now()
    finished = None if status == StepStatus.QUEUED else connection.ops.adapt_datetimefield_value(now)
    record = [status, finished, error[:4000], exit_code, json.dumps(outputs), log_key, log_size, log_inline, step.pk, step.attempt]
    if claim_from is not None and connection.vendor == "postgresql":
        if claim_from:
            row, _ = run_prepared(_RECORD_AND_CLAIM, record + _claim_params(now, claim_from))
        else:
            row, _ = run_prepared(_RECORD_AND_STEAL, record + _steal_params(now, step))
        return bool(row[0]), _claimed(row[1:] if row[1] is not None else None, now)
    recorded = bool(run_prepared(_RECORD, record)[1])
    if claim_from is None:
        return recorded, None
    return recorded, claim_next(claim_from) if claim_from else claim_sibling(step)


def _claim_params(now, step_run_ids: list[int]) -> list:
    return [now, now, worker_name(), list(step_run_ids)]


def _steal_params(now, step: StepRun) -> list:
    return [now, now, worker_name(), step.run_id, step.resource_class]


def _claimed(row, now) -> StepRun | None:
    if row is None:
        return None
    pk, run_id, name, attempt, resource_class = row
    return StepRun(pk=pk, run_id=run_id, name=name, attempt=attempt, resource_class=resource_class,
                   status=StepStatus.RUNNING, started_at=now)
