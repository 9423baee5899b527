"""Reads for runs, always scoped to what the user may see."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Max, QuerySet

from accounts.access import can_change_run, experiment_filter, run_filter, token_is_run_scoped
from accounts.models import ApiToken
from core import storage
from core.errors import Forbidden, NotFound
from flowdeck.gates import gate_summary

from .models import Experiment, Metric, Run, StepRun

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
    """A run the caller may log to: its own run for a run-scoped token, else one they may change."""
    run = run_get(user=user, run_id=run_id, token=token)
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


def step_rows(*, run: Run) -> list[StepRow]:
    rows = []
    for step in run.steps.select_related("cached_from"):
        gate = step.gate or {}
        source = step.cached_from
        rows.append(StepRow(
            step=step,
            gate=("passed" if gate.get("passed") else "false") if gate else "",
            gate_detail=gate_summary(gate),
            cached_run_id=source.run_id if source else None,
            cached_step=source.name if source else "",
        ))
    return rows


def step_get(*, run: Run, name: str) -> StepRun:
    step = run.steps.filter(name=name).first()
    if step is None:
        raise NotFound(f"Run {run.pk} has no step '{name}'.", field="step")
    return step


def step_log(*, step: StepRun, max_bytes: int = LOG_TAIL_BYTES) -> tuple[str, bool]:
    """The tail of a step's log, and whether it was cut."""
    if not step.log_key:
        return "", False
    data, cut = storage.read_tail(step.log_key, max_bytes)
    return data.decode("utf-8", "replace"), cut
