"""Reads for runs, always scoped to what the user may see."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Max, QuerySet
from django.utils import timezone

from accounts.access import (
    can_change_run, experiment_filter, member_role, run_filter, run_visible_by_role, token_is_run_scoped,
)
from accounts.models import ApiToken
from core.errors import Forbidden, NotFound
from flowdeck.gates import gate_summary
from flowdeck.spec import DEFAULT_RESOURCE_CLASS

from . import stored_logs
from .models import Experiment, Metric, Run, StepLogChunk, StepRun, StepStatus, WorkerNode
from .routing import class_for_queue, step_queue

LOG_TAIL_BYTES = 256 * 1024


def runs_visible(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Run]:
    return Run.objects.filter(run_filter(user)).select_related(
        "asset_version__asset__namespace", "created_by", "namespace", "experiment"
    )


def run_list(
    *, user: AbstractBaseUser | AnonymousUser, asset: str | None = None, status: str | None = None,
    experiment: str | None = None,
) -> QuerySet[Run]:
    runs = runs_visible(user=user)
    if experiment:  # a name; the same name in two namespaces lists both
        runs = runs.filter(experiment__name=experiment)
    if asset:
        namespace, _, name = asset.partition("/")
        runs = runs.filter(asset_version__asset__namespace__slug=namespace, asset_version__asset__name=name)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def experiment_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Experiment]:
    """Experiments the user may see, most recently used first, with run counts."""
    return (
        Experiment.objects.filter(experiment_filter(user))
        .select_related("namespace")
        .annotate(run_count=Count("runs"), last_run_at=Max("runs__created_at"))
        .order_by(F("last_run_at").desc(nulls_last=True), "-pk")
    )


def runs_created_by(*, user: AbstractBaseUser, limit: int = 20) -> list[Run]:
    """The user's own most recent runs, for their workspace page."""
    return list(run_list(user=user).filter(created_by=user)[:limit])


def run_get(*, user: AbstractBaseUser | AnonymousUser, run_id: int, token: ApiToken | None = None) -> Run:
    if token_is_run_scoped(token):
        if token.run_id != run_id:
            raise NotFound(f"Run {run_id} was not found.")
        return Run.objects.select_related("asset_version__asset__namespace").get(pk=run_id)
    run = runs_visible(user=user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"Run {run_id} was not found.")
    return run


def run_get_for_logging(*, user: AbstractBaseUser, run_id: int, token: ApiToken | None = None) -> Run:
    """A run the caller may log to: its own run for a run-scoped token, else one they may change.

    One query, of the run's own columns and the caller's role in its namespace: every
    log-batch asks this, and a fetch plus a role lookup took a third of a batch's time."""
    if token_is_run_scoped(token):
        if token.run_id != run_id:
            raise NotFound(f"Run {run_id} was not found.")
        runs = Run.objects.filter(pk=run_id)
    else:
        runs = Run.objects.filter(pk=run_id).annotate(member_role=member_role(user))
    run = next(iter(runs.only("id", "namespace_id", "created_by_id", "status", "asset_version_id")), None)  # by pk: no ORDER BY
    if run is None or not (token_is_run_scoped(token) or run_visible_by_role(run)):
        raise NotFound(f"Run {run_id} was not found.")
    if not token_is_run_scoped(token) and not can_change_run(user, run):
        raise Forbidden(f"You may not log to run {run_id}.")
    return run


def metric_history(*, run: Run, key: str) -> list[dict]:
    rows = Metric.objects.filter(run=run, key=key).order_by("step", "timestamp_ms").values_list("step", "value", "timestamp_ms")
    return [{"step": s, "value": v, "timestamp": t} for s, v, t in rows]


def metric_series(*, run: Run) -> dict[str, dict[str, list]]:
    """Every metric of a run as {key: {"step": [...], "value": [...]}}, for charts."""
    series: dict[str, dict[str, list]] = {}
    rows = Metric.objects.filter(run=run).order_by("key", "step", "timestamp_ms").values_list("key", "step", "value")
    for key, step, value in rows.iterator(chunk_size=10_000):
        s = series.setdefault(key, {"step": [], "value": []})
        s["step"].append(step)
        s["value"].append(value)
    return series


@dataclass(frozen=True)
class StepRow:
    """A step as the run page shows it, with its gate and cache notes already worded."""

    step: StepRun
    gate: str  # "", "passed" or "false"
    gate_detail: str  # the expression and the values it read
    cached_run_id: int | None
    cached_step: str
    subrun: SubrunView | None = None  # for a sub-workflow step: its child run and the child's steps
    waiting_reason: str = ""  # why a queued step has not started (step_waiting_reason)


def step_rows(*, run: Run) -> list[StepRow]:
    rows = []
    subruns = subrun_views(run=run)
    live: dict[str, int] | None = None
    for step in run.steps.select_related("cached_from").defer("log_inline"):
        if step.status == StepStatus.QUEUED and live is None:
            live = live_queues()
        gate = step.gate or {}
        source = step.cached_from
        rows.append(StepRow(
            step=step,
            gate=("passed" if gate.get("passed") else "false") if gate else "",
            gate_detail=gate_summary(gate),
            cached_run_id=source.run_id if source else None,
            cached_step=source.name if source else "",
            subrun=subruns.get(step.name),
            waiting_reason=step_waiting_reason(step=step, live=live) if live is not None else "",
        ))
    return rows


def step_get(*, run: Run, name: str) -> StepRun:
    step = run.steps.filter(name=name).first()
    if step is None:
        raise NotFound(f"Run {run.pk} has no step '{name}'.", field="step")
    return step


def step_log(*, step: StepRun, max_bytes: int = LOG_TAIL_BYTES) -> tuple[str, bool]:
    """The tail of a step's log, and whether it was cut. Without a stored log (the step
    runs, or its log could not be stored) it is what the worker shipped live."""
    if not stored_logs.log_stored(step):
        rows = StepLogChunk.objects.filter(step=step, attempt=step.attempt).order_by("offset").values_list("data", flat=True)
        text = "".join(rows)
        return (text[-max_bytes:], True) if len(text) > max_bytes else (text, False)
    data, cut = stored_logs.log_tail(step, max_bytes)
    return data.decode("utf-8", "replace"), cut


# --- sub-workflows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubrunView:
    """A sub-workflow step as the run page shows it: what it uses, and its latest child run."""

    uses: str
    run_id: int | None
    status: str
    steps: list[dict]  # the child's steps in order: {"name", "status"}


def subrun_children(*, run_id: int) -> dict[int, int]:
    """Step id -> the id of its latest child run, for the sub-workflow steps of run ``run_id``
    that have started one (a retried step starts a new child; the latest is the live one)."""
    rows = Run.objects.filter(parent_step__run_id=run_id).values("parent_step_id").annotate(latest=Max("pk"))
    return {r["parent_step_id"]: r["latest"] for r in rows}


def subrun_views(*, run: Run) -> dict[str, SubrunView]:
    """Step name -> SubrunView, for each sub-workflow step of ``run`` (two queries, none
    when the workflow has no sub-workflow step)."""
    uses = {s["name"]: s["uses"] for s in (run.asset_version.spec["steps"] if run.asset_version_id else []) if s.get("uses")}
    if not uses:
        return {}
    latest = {r["parent_step__name"]: r["latest"] for r in
              Run.objects.filter(parent_step__run_id=run.pk).values("parent_step__name").annotate(latest=Max("pk"))}
    children = {r.pk: r for r in Run.objects.filter(pk__in=latest.values()).only("pk", "status")}
    child_steps: dict[int, list[dict]] = {}
    for row in StepRun.objects.filter(run_id__in=latest.values()).order_by("run_id", "position").values("run_id", "name", "status"):
        child_steps.setdefault(row["run_id"], []).append({"name": row["name"], "status": row["status"]})
    views = {}
    for name, ref in uses.items():
        child = children.get(latest.get(name))
        views[name] = SubrunView(uses=ref, run_id=child.pk if child else None, status=child.status if child else "",
                                 steps=child_steps.get(child.pk, []) if child else [])
    return views


# --- workers and resource classes ---------------------------------------------------------------
def worker_is_live(node: WorkerNode, *, now=None) -> bool:
    return node.last_seen >= (now or timezone.now()) - timedelta(seconds=settings.FLOWDECK_WORKER_STALE_S)


def workers_live() -> list[WorkerNode]:
    """Workers seen within FLOWDECK_WORKER_STALE_S, by name."""
    cutoff = timezone.now() - timedelta(seconds=settings.FLOWDECK_WORKER_STALE_S)
    return list(WorkerNode.objects.filter(last_seen__gte=cutoff).order_by("name"))


def worker_list() -> list[WorkerNode]:
    """Every registered worker, live ones first; ``live`` and ``resource_classes`` are set on each."""
    now = timezone.now()
    nodes = list(WorkerNode.objects.order_by("-last_seen", "name"))
    for node in nodes:
        node.live = worker_is_live(node, now=now)
        node.resource_classes = [class_for_queue(q) or q for q in node.queues]
    return sorted(nodes, key=lambda n: (not n.live, n.name))


def live_queues() -> dict[str, int]:
    """Queue name -> how many live workers consume it."""
    counts: dict[str, int] = {}
    for node in workers_live():
        for queue in node.queues:
            counts[queue] = counts.get(queue, 0) + 1
    return counts


def step_waiting_reason(*, step: StepRun, live: Mapping[str, int] | None = None) -> str:
    """Why a queued step has not started: no live worker serves its resource class (and how
    to start one), or every worker that does is busy. "" for a step that is not queued.
    ``live`` is ``live_queues()``, passed in when asking about several steps."""
    if step.status != StepStatus.QUEUED:
        return ""
    if live is None:
        live = live_queues()
    queue = step_queue(step)
    resource_class = step.resource_class or DEFAULT_RESOURCE_CLASS
    serving = live.get(queue, 0)
    if not serving:
        return (f"No live worker serves resource class '{resource_class}' (queue {queue}). "
                f"Start one with: celery -A config worker -Q {queue}")
    workers = "1 live worker serves" if serving == 1 else f"{serving} live workers serve"
    return f"Waiting for a free worker ({workers} resource class '{resource_class}')."
