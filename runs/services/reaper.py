"""Recovering from lost workers and lost messages.

Three paths bring a step back after its worker died:
- a redelivered message (``acks_late``) for a step whose recorded worker process is dead
  on this very host takes the step over at once (``takeover_dead_local``);
- the periodic reaper (``steps_reap``) requeues running steps whose heartbeat stopped,
  wherever their worker was;
- the reaper also re-sends messages that a broker restart may have lost: queued steps
  nobody claimed for a while, runs with nothing in flight, and sub-workflow steps whose
  child run ended without settling them.

A step executed again drops what its earlier attempt logged (``forget_attempt``), so a
run that lost a worker has no duplicate metric points.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from ..models import Metric, MetricSummary, Run, RunStatus, StepRun, StepStatus
from ..routing import step_queue
from ..selectors import live_queues
from .dispatch import step_dispatch
from .graph import version_graph
from .logs import log_chunks_clear
from .subruns import subruns_settle_lost

log = logging.getLogger(__name__)
MAX_LOST = 2  # executions lost with their worker before the step fails instead


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def takeover_dead_local(step_run_id: int, me: str) -> bool:
    """Claim a step still marked running by a worker process of this host that is dead."""
    row = StepRun.objects.filter(pk=step_run_id, status=StepStatus.RUNNING).values("worker", "attempt").first()
    if row is None:
        return False
    node, _, pid = row["worker"].rpartition(":")
    host = node.rpartition("@")[2]  # a Celery node name, name@host, or a bare host name
    if host != socket.gethostname() or not pid.isdigit() or _process_alive(int(pid)):
        return False
    now = timezone.now()
    taken = StepRun.objects.filter(
        pk=step_run_id, status=StepStatus.RUNNING, worker=row["worker"], attempt=row["attempt"]
    ).update(started_at=now, heartbeat_at=now, worker=me, attempt=F("attempt") + 1, exit_code=None, error="")
    if taken:
        log.warning("step %s: took over from dead worker %s", step_run_id, row["worker"])
    return bool(taken)


def forget_attempt(step: StepRun) -> None:
    """Before a step runs again: drop the live log and the metric points of its earlier
    attempts, recomputing the summaries of the keys they touched. (Their step tokens
    already stopped working when the attempt number moved on.)"""
    log_chunks_clear(step_id=step.pk)
    points = Metric.objects.filter(run_id=step.run_id, origin=step.pk)
    keys = list(points.values_list("key", flat=True).distinct())
    if not keys:
        return
    with transaction.atomic():
        points.delete()
        for key in keys:
            _summary_rebuild(step.run_id, key)


def _summary_rebuild(run_id: int, key: str) -> None:
    rows = Metric.objects.filter(run_id=run_id, key=key)
    agg = rows.aggregate(n=Count("id"), lo=Min("value"), hi=Max("value"), last_step=Max("step"))
    if not agg["n"]:
        MetricSummary.objects.filter(run_id=run_id, key=key).delete()
        return
    last = rows.filter(step=agg["last_step"]).order_by("-timestamp_ms", "-id").values_list("value", flat=True).first()
    MetricSummary.objects.update_or_create(
        run_id=run_id,
        key=key,
        defaults={"last": last, "last_step": agg["last_step"], "min": agg["lo"], "max": agg["hi"], "count": agg["n"]},
    )


def steps_reap() -> dict[str, int]:
    """The periodic repair pass. Returns what it did, for logs and tests."""
    from .lifecycle import run_advance

    now = timezone.now()
    done = {"requeued": 0, "failed": 0, "resent": 0, "advanced": 0, "subruns": 0}
    stale = now - timedelta(seconds=settings.FLOWDECK_HEARTBEAT_TIMEOUT_S)
    lost = (
        StepRun.objects.filter(status=StepStatus.RUNNING, heartbeat_at__lt=stale, child_runs__isnull=True)
        .exclude(worker="cache")
        .select_related("run")
    )
    for step in lost:
        spec = _step_spec(step)
        give_up = step.attempt >= 1 + int(spec.get("retries") or 0) + MAX_LOST
        with transaction.atomic():
            changed = StepRun.objects.filter(pk=step.pk, status=StepStatus.RUNNING, heartbeat_at=step.heartbeat_at).update(
                status=StepStatus.FAILED if give_up else StepStatus.QUEUED,
                finished_at=now if give_up else None,
                queued_at=now,
                error=(f"Lost its worker {step.worker} {step.attempt} times." if give_up
                       else f"Requeued: worker {step.worker} stopped sending heartbeats."),
            )
            if changed and not give_up:
                step_dispatch(step, spec)
        if changed:
            log.warning("step %s of run %s: worker %s lost, %s", step.name, step.run_id, step.worker,
                        "failed" if give_up else "requeued")
            done["failed" if give_up else "requeued"] += 1
            if give_up:
                run_advance(run_id=step.run_id, finished=step.name)
    resend_before = now - timedelta(seconds=settings.FLOWDECK_REDISPATCH_S)
    live = live_queues()
    for step in StepRun.objects.filter(status=StepStatus.QUEUED, queued_at__lt=resend_before).select_related("run"):
        if step_queue(step) not in live:
            continue  # nobody serves its class: the message waits in its queue, more would only pile up
        with transaction.atomic():
            if StepRun.objects.filter(pk=step.pk, status=StepStatus.QUEUED, queued_at=step.queued_at).update(queued_at=now):
                step_dispatch(step, _step_spec(step))  # a duplicate is harmless: claims are conditional
                done["resent"] += 1
    idle = Run.objects.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING], created_at__lt=resend_before,
        asset_version__isnull=False,
    ).exclude(steps__status__in=[StepStatus.QUEUED, StepStatus.RUNNING])
    for run_id in idle.values_list("pk", flat=True).distinct():
        run_advance(run_id=run_id)
        done["advanced"] += 1
    done["subruns"] = subruns_settle_lost()  # parent steps whose child ended while nobody listened
    return done


def _step_spec(step: StepRun) -> dict:
    return version_graph(step.run.asset_version_id).specs[step.name]
