"""Partial runs on the server: only the chosen steps run; the steps upstream of them are not
run but reused from a source run, whose succeeded steps hand over their stored outputs.

The SDK's ``wf.run(steps=[...], inputs_from=RUN)`` does the same locally. A reused step is
recorded as succeeded with ``cached_from`` pointing at the source run's step, or at the step
that step was itself reused from (the run page says "reused from run N"); steps that are neither chosen nor upstream of a chosen step are
skipped ("not selected"). The source run's parameters are the base that the new ones
override, so reused outputs and new steps see the same values unless edited.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import Team

from core.errors import InvalidInput
from registry.models import AssetVersion

from ..models import Run, StepRun, StepStatus
from ..stored_outputs import output_kept

REUSED_WORKER = "reused"  # StepRun.worker of a reused step, as "cache" marks a cache hit
NOT_SELECTED = "Not selected in this partial run."


# --- the DAG, from a spec's steps -----------------------------------------------------------
def ancestors(specs: Mapping[str, dict], names: Iterable[str]) -> set[str]:
    """Every step upstream of ``names`` (through ``depends_on``), not counting ``names``."""
    found: set[str] = set()
    todo = [dep for name in names for dep in specs[name]["depends_on"]]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(specs[name]["depends_on"])
    return found


def descendants(specs: Mapping[str, dict], names: Iterable[str]) -> set[str]:
    """``names`` and every step downstream of them."""
    dependents: dict[str, list[str]] = {name: [] for name in specs}
    for name, spec in specs.items():
        for dep in spec["depends_on"]:
            dependents[dep].append(name)
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(dependents[name])
    return found


# --- the plan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartialPlan:
    chosen: frozenset[str]
    reused: dict[str, StepRun] = field(default_factory=dict)  # step name -> the source run's step
    skipped: frozenset[str] = frozenset()


def partial_params(*, version: AssetVersion, source_run: Run, params: dict | None) -> dict:
    """The source run's parameter values that ``version`` still has, overridden by ``params``."""
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("params must be an object of name: value.", field="params")
    known = {p["name"] for p in version.spec["params"]}
    return {**{k: v for k, v in (source_run.params or {}).items() if k in known}, **(params or {})}


def partial_plan(*, version: AssetVersion, steps: list[str] | None, source_run: Run | None) -> PartialPlan:
    """Check a partial run of ``version`` and say which steps run, are reused or are skipped.

    The caller has checked that the user may see ``source_run``. Every step upstream of a
    chosen one must have succeeded in the source run, with its outputs stored; otherwise an
    InvalidInput names the step.
    """
    if steps is None or source_run is None:
        raise InvalidInput("A partial run needs both steps and source_run.", field="steps" if steps is None else "source_run")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s for s in steps):
        raise InvalidInput("steps must be a non-empty list of step names.", field="steps")
    specs = {s["name"]: s for s in version.spec["steps"]}
    unknown = [s for s in steps if s not in specs]
    if unknown:
        raise InvalidInput(f"{version} has no step '{unknown[0]}'.", field="steps")
    if source_run.asset_version_id is None or source_run.asset_version.asset_id != version.asset_id:
        raise InvalidInput(
            f"Run {source_run.pk} is not a run of {version.asset.full_name}; inputs come from a run of the same workflow.",
            field="source_run",
        )
    chosen = frozenset(steps)
    upstream = ancestors(specs, chosen) - chosen
    found = {s.name: s for s in source_run.steps.filter(name__in=upstream).select_related("cached_from")}
    reused: dict[str, StepRun] = {}
    for name in sorted(upstream, key=lambda n: list(specs).index(n)):
        source = found.get(name)
        reader = next(s for s in sorted(chosen | upstream) if name in specs[s]["depends_on"])
        if source is None or source.status != StepStatus.SUCCEEDED:
            state = f"has no step '{name}'" if source is None else f"has step '{name}' {source.status}"
            raise InvalidInput(
                f"Step '{reader}' needs step '{name}', which is not chosen, so its outputs come from run "
                f"{source_run.pk}; but run {source_run.pk} {state}, not succeeded. Choose '{name}' too, "
                "or pick a source run where it succeeded.",
                field="source_run",
            )
        missing = [o for o in specs[name]["outputs"] if not output_kept((source.outputs or {}).get(o))]
        if missing:
            raise InvalidInput(
                f"Step '{name}' of run {source_run.pk} has no stored output '{missing[0]}' to hand to step '{reader}'.",
                field="source_run",
            )
        # A step the source run itself reused or took from the cache points at the step that
        # really ran, as cache hits do: a chain never grows, and gates find its metrics there.
        reused[name] = source.cached_from if source.cached_from_id and source.cached_from else source
    skipped = frozenset(specs) - chosen - upstream
    return PartialPlan(chosen=chosen, reused=reused, skipped=skipped)


def partial_apply(*, run: Run, plan: PartialPlan) -> None:
    """Record the plan on ``run``'s freshly created (pending) steps, before it is dispatched."""
    now = timezone.now()
    steps = {s.name: s for s in run.steps.filter(name__in=[*plan.reused, *plan.skipped])}
    for name, source in plan.reused.items():
        step = steps[name]
        step.status, step.outputs, step.cached_from, step.gate = StepStatus.SUCCEEDED, source.outputs, source, source.gate
        step.queued_at = step.started_at = step.finished_at = now
        step.worker = REUSED_WORKER
    for name in plan.skipped:
        step = steps[name]
        step.status, step.finished_at, step.error = StepStatus.SKIPPED, now, NOT_SELECTED
    StepRun.objects.bulk_update(
        steps.values(), ["status", "outputs", "cached_from", "gate", "queued_at", "started_at", "finished_at", "worker", "error"]
    )


def run_start_partial(
    *,
    user: AbstractBaseUser,
    version: AssetVersion,
    steps: list[str] | None,
    source_run: Run | None,
    params: dict | None = None,
    name: str = "",
    namespace: Team | None = None,
) -> Run:
    """Start a run of ``version`` in which only ``steps`` run, with the inputs they need from
    steps that are not chosen taken from ``source_run`` (see the module docstring).

    ``run_start`` does the checks and creates the steps; the plan is recorded on them in the
    same transaction, so the run is dispatched (on commit) only once it is in place.
    """
    from .lifecycle import run_start

    plan = partial_plan(version=version, steps=steps, source_run=source_run)
    values = partial_params(version=version, source_run=source_run, params=params)
    with transaction.atomic():
        run = run_start(user=user, version=version, params=values, name=name, namespace=namespace)
        partial_apply(run=run, plan=plan)
    return run
