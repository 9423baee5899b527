"""Starting runs and moving them forward. The database is the source of truth; Celery
only carries "look at run N" and "execute step M" messages."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from accounts.access import can_change_run, require_write
from accounts.models import Team
from accounts.services import Action, audit_record, tokens_revoke_for_run
from accounts.services.quotas import run_admission
from core.errors import Conflict, Forbidden, InvalidInput
from flowdeck.gates import GateError
from flowdeck.spec import SpecError, resolve_params, topo_order
from registry.models import AssetVersion

from ..models import STEP_FINAL, STEP_UNFINISHED, Run, RunStatus, StepRun, StepStatus
from ..routing import spec_resource_classes
from ..signals import run_finished
from .cache import step_cache_key, step_cache_source
from .claims import claim_next
from .dispatch import steps_dispatch
from .graph import Graph, version_graph
from .gates import step_gate

BLOCKING = {StepStatus.FAILED, StepStatus.STOPPED, StepStatus.SKIPPED}


def params_check(version: AssetVersion, values: dict | None) -> dict:
    if values is not None and not isinstance(values, dict):
        raise InvalidInput("params must be an object of name: value.", field="params")
    try:
        return resolve_params(version.spec["params"], values)
    except SpecError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None


def run_start(
    *,
    user: AbstractBaseUser,
    version: AssetVersion,
    params: dict | None = None,
    name: str = "",
    namespace: Team | None = None,
    sub_run: bool = False,
) -> Run:
    """Validate the parameters, create the run and its pending steps, and dispatch it.

    The caller has already checked that ``user`` may see ``version``. A run its team's
    concurrent-run quota holds back is created ``waiting`` and dispatched when a slot frees;
    a ``sub_run`` (a sub-workflow's child run) takes no slot and is not audited on its own.
    """
    if version.yanked_at:
        raise InvalidInput(
            f"{version} is yanked ({version.yank_reason or 'no reason given'}); pick another version.",
            field="version",
        )
    team = namespace or Team.objects.get(personal_of=user)
    require_write(user, team, what="start runs")
    values = params_check(version, params)
    order = topo_order(version.spec["steps"])
    with transaction.atomic():
        run = Run.objects.create(
            name=(name or "")[:200],
            namespace=team,
            created_by=user,
            asset_version=version,
            params=values,
            status=RunStatus.QUEUED if sub_run else run_admission(team=team),
        )
        classes = spec_resource_classes(version.spec)
        StepRun.objects.bulk_create(
            StepRun(run=run, name=step_name, position=i, resource_class=classes[step_name])
            for i, step_name in enumerate(order)
        )
        from ..tasks import run_advance_task

        if run.status == RunStatus.QUEUED:
            run_advance_task.delay_on_commit(run.pk)
        if not sub_run:
            audit_record(actor=user, action=Action.RUN_START, team=team, target_type="run", target=str(run.pk),
                         data={"workflow": str(version), "status": run.status})
    return run


def _graph(run: Run) -> Graph:
    return version_graph(run.asset_version_id)


@dataclass
class Pickup:
    """A worker process's offer to run, itself, one of the steps that ``run_advance`` makes
    ready: one of ``resource_class``, the class of the step the process just ran (so one
    it serves), and not a sub-workflow. ``run_advance`` claims that step for the process in
    its own transaction, as ``step_execute`` would, and sends no message for it; ``step``
    is then the claimed step. The next step of a chain thus starts without a trip through
    the broker (nor another process's task start), where the upstream outputs it reads are
    known already."""

    resource_class: str
    step: StepRun | None = None


class _Steps(dict):
    """A run's steps by name, loaded on first use (a run may have thousands). Without their
    logs (up to 64 KiB each), which no decision reads."""

    def __init__(self, run: Run, names=()):
        super().__init__()
        self.run = run
        self.need(list(names))

    def _rows(self, names: list[str]):
        return self.run.steps.filter(name__in=names).defer("log_inline")

    def __missing__(self, name: str) -> StepRun:
        self[name] = step = self.run.steps.defer("log_inline").get(name=name)
        return step

    def need(self, names: list[str]) -> None:
        """Load the steps of ``names`` not loaded yet, in one query."""
        missing = [n for n in names if n not in self]
        if missing:
            self.update((s.name, s) for s in self._rows(missing))


def run_advance(
    *, run_id: int, finished: str | None = None, version_id: int | None = None, running: str | None = None,
    pickup: Pickup | None = None,
) -> list[int]:
    """Queue every pending step whose dependencies succeeded and whose gate holds (a false
    gate skips it; a cache hit succeeds it at once); skip those behind a failure or a skip;
    finish the run when no step is left. Safe to call any number of times, concurrently:
    the run row lock serialises callers and a step leaves "pending" only once.

    ``finished`` names the step whose end prompted the call: then only the steps that
    depend on it are looked at, and the run row is locked only when one of them is ready
    (or the run may be over). A 1,000-step fan-out thus costs one indexed query per step
    instead of 1,000 rows read under a lock.

    ``version_id`` (the run's version, when the caller knows it) saves reading the run
    before the lock; whether it ended or is stopping is checked under the lock.

    ``running`` names a step of the run the caller knows has not ended (the next step of
    its batch, which it holds): a step that depends on it is not ready, and the run is not
    over, without asking the database. The thousand children of a fan-out, run in batches,
    thus ask about the join only as each batch ends.

    ``pickup`` (with ``finished``): the caller's worker process runs one of the steps made
    ready itself (``Pickup``).

    Returns the ids of the steps it dispatched (a step picked up among them).
    """
    if finished is None:
        return _advance_all(run_id)
    if version_id is None:
        run = Run.objects.filter(pk=run_id).only("status", "asset_version_id").first()
        if run is None or run.is_final or run.asset_version_id is None:
            return []
        if run.status == RunStatus.STOPPING:
            return _advance_all(run_id)
        version_id = run.asset_version_id
    graph = version_graph(version_id)
    # Each step's own end is committed before this runs, so of two steps that end at the
    # same moment, at least the second sees the first as final: nothing is left waiting.
    ready = [
        name for name in graph.dependents[finished]
        if graph.specs[name]["depends_on"] == [finished]
        or (running not in graph.depends_on[name] and not _unfinished(run_id, graph.depends_on[name]))
    ]
    if ready:
        return _advance_some(run_id, graph, ready, pickup)
    if graph.dependents[finished] or running:
        return []  # a step after this one still waits on another, or one still runs: the run is not over
    if not _unfinished(run_id):
        return _advance_all(run_id)  # the run is over: finish it under the lock
    return []


_PEEK = 16  # unfinished steps looked at before asking about every dependency by name


def _unfinished(run_id: int, names: frozenset[str] | None = None) -> bool:
    """Whether a step of the run (of ``names``, if given) has not ended yet.

    A join after a fan-out of a thousand asks this once per child, so it must not cost a
    thousand of anything. It reads the run's unfinished steps only (the partial index
    ``steprun_unfinished``): the first few of them, which nearly always include a
    dependency that is still running, or are all there is; only when they are neither
    does it ask about every name."""
    table = StepRun._meta.db_table
    marks = ", ".join(["%s"] * len(STEP_UNFINISHED))
    with connection.cursor() as cursor:
        # Any order (no sort); plain SQL, as it runs once per finished step.
        cursor.execute(f"SELECT name FROM {table} WHERE run_id = %s AND status IN ({marks}) LIMIT %s",
                       [run_id, *STEP_UNFINISHED, 1 if names is None else _PEEK])
        peek = [row[0] for row in cursor.fetchall()]
        if names is None or any(name in names for name in peek):
            return bool(peek)
        if len(peek) < _PEEK:
            return False  # every unfinished step of the run was in view, and none is one of names
        if connection.vendor == "postgresql":  # one array parameter, not a placeholder per name
            cursor.execute(f"SELECT 1 FROM {table} WHERE run_id = %s AND status IN ({marks}) AND name = ANY(%s) LIMIT 1",
                           [run_id, *STEP_UNFINISHED, list(names)])
            return cursor.fetchone() is not None
    return StepRun.objects.filter(run_id=run_id, status__in=STEP_UNFINISHED, name__in=names).exists()


def _lock(run_id: int) -> Run | None:
    # The version (and its spec) is read through version_graph, cached, not joined here.
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    # A run waiting for quota is left alone until accounts' quota_release queues it.
    return None if run is None or run.is_final or run.status == RunStatus.WAITING else run


def _advance_all(run_id: int) -> list[int]:
    with transaction.atomic():
        run = _lock(run_id)
        return [] if run is None else _pass_all(run)


def _pass_all(run: Run) -> list[int]:
    """Inside the locked transaction: decide every step of the run, in dependency order."""
    steps = {s.name: s for s in run.steps.defer("log_inline")}  # logs: up to 64 KiB a step
    specs = _graph(run).specs
    now = timezone.now()
    dispatched = [
        step for step in sorted(steps.values(), key=lambda s: s.position)
        if _decide(run, step, specs[step.name], steps, now) == StepStatus.QUEUED
    ]
    return _conclude(run, dispatched, specs, now, steps=list(steps.values()))


def _advance_some(run_id: int, graph: Graph, names: list[str], pickup: Pickup | None = None) -> list[int]:
    """Decide the given steps, and any step downstream that becomes ready because one of
    them ended at once (skipped, gate false, cache hit)."""
    with transaction.atomic():
        run = _lock(run_id)
        if run is None:
            return []
        if run.status == RunStatus.STOPPING:
            return _pass_all(run)
        wanted = set(names)
        for name in names:
            wanted.update(graph.specs[name]["depends_on"])
        steps = _Steps(run, wanted)
        now = timezone.now()
        dispatched: list[StepRun] = []
        todo, seen = list(names), set()
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            step = steps[name]
            outcome = _decide(run, step, graph.specs[name], steps, now)
            if outcome == StepStatus.QUEUED:
                dispatched.append(step)
            elif outcome in STEP_FINAL:
                for child in graph.dependents[name]:
                    deps = graph.specs[child]["depends_on"]
                    steps.need(deps)
                    if all(steps[d].status in STEP_FINAL for d in deps):
                        todo.append(child)
        return _conclude(run, dispatched, graph.specs, now, steps=None, pickup=pickup)


def _decide(run: Run, step: StepRun, spec: dict, steps: dict[str, StepRun], now) -> str | None:
    """Move one step on if it is pending and its dependencies allow. Returns its new status."""
    if step.status != StepStatus.PENDING:
        return None
    if run.status == RunStatus.STOPPING:
        step.status, step.finished_at = StepStatus.STOPPED, now
        step.save(update_fields=["status", "finished_at"])
        return step.status
    deps = [steps[d] for d in spec["depends_on"]]
    blocked = [d for d in deps if d.status in BLOCKING]
    if blocked:
        step.status, step.finished_at = StepStatus.SKIPPED, now
        step.error = f"Skipped: upstream step '{blocked[0].name}' {blocked[0].status}."
        step.save(update_fields=["status", "finished_at", "error"])
        return step.status
    if not all(d.status == StepStatus.SUCCEEDED for d in deps):
        return None
    if _settle_before_queueing(run, step, spec, steps, now):
        return step.status  # skipped by its gate, failed gate, or a cache hit
    step.status, step.queued_at = StepStatus.QUEUED, now
    return step.status  # saved by _conclude, with the others queued in this pass


def _conclude(
    run: Run, dispatched: list[StepRun], specs: dict, now, steps: list[StepRun] | None, pickup: Pickup | None = None,
) -> list[int]:
    """Inside the locked transaction: mark the run running, end it when nothing is left,
    hand one queued step to ``pickup`` and send the others (on commit)."""
    if dispatched and run.status == RunStatus.QUEUED:
        run.status, run.started_at = RunStatus.RUNNING, run.started_at or now
        run.save(update_fields=["status", "started_at"])
    _save_queued(dispatched, now)
    if steps is None:
        if not dispatched and not _unfinished(run.pk):
            _finish(run, list(run.steps.defer("log_inline")), now)
    elif all(s.status in STEP_FINAL for s in steps):
        _finish(run, steps, now)
    taken = _pick_up(dispatched, specs, pickup) if pickup is not None else None
    steps_dispatch([step for step in dispatched if step is not taken], specs)
    return [step.pk for step in dispatched]


def _pick_up(dispatched: list[StepRun], specs: dict, pickup: Pickup) -> StepRun | None:
    """Claim for ``pickup`` the first of the just-queued steps it may run (inside the run's
    locked transaction: if that rolls back, so does the claim). Returns that step."""
    for step in dispatched:
        if step.resource_class == pickup.resource_class and not specs[step.name].get("uses"):
            pickup.step = claim_next([step.pk])
            return step if pickup.step is not None else None
    return None


def _save_queued(steps: list[StepRun], now) -> None:
    """Mark the steps queued: one UPDATE for the plain ones (a fan-out's thousand children),
    a save each for those whose gate or cache key was just set."""
    plain = [s.pk for s in steps if s.gate is None and not s.cache_key]
    if plain:
        StepRun.objects.filter(pk__in=plain).update(status=StepStatus.QUEUED, queued_at=now)
    for step in steps:
        if step.gate is not None or step.cache_key:
            step.save(update_fields=["status", "queued_at", "gate", "cache_key"])


def _settle_before_queueing(run: Run, step: StepRun, spec: dict, steps: dict[str, StepRun], now) -> bool:
    """Evaluate the step's gate, then look for a cached result. Returns True when that
    settled the step (it is saved, final), False when it is to be queued (``gate`` and
    ``cache_key`` are set on it, for the caller's save).

    A false gate skips the step, and BLOCKING then skips everything downstream of it; the
    run can still succeed. A gate that cannot be evaluated fails the step. A cache hit
    succeeds the step at once, so steps after it become ready in this same pass (steps are
    visited in dependency order and ``steps`` holds the very objects updated here)."""
    if spec.get("when"):
        try:
            step.gate = step_gate(run=run, when=spec["when"], steps=steps)
        except GateError as exc:
            step.status, step.finished_at, step.error = StepStatus.FAILED, now, exc.message[:4000]
            step.save(update_fields=["status", "finished_at", "error"])
            return True
        if not step.gate["passed"]:
            step.status, step.finished_at = StepStatus.SKIPPED, now
            step.error = f"Gate false: {spec['when']}"[:4000]
            step.save(update_fields=["status", "finished_at", "error", "gate"])
            return True
    if spec.get("cache"):
        step.cache_key = step_cache_key(run=run, spec=spec, steps=steps) or ""
        source = step_cache_source(run=run, key=step.cache_key) if step.cache_key else None
        if source is not None:
            step.status, step.outputs, step.cached_from = StepStatus.SUCCEEDED, source.outputs, source
            step.queued_at = step.started_at = step.finished_at = now
            step.worker, step.error = "cache", ""
            step.save(update_fields=["status", "outputs", "cached_from", "queued_at", "started_at", "finished_at",
                                     "worker", "error", "gate", "cache_key"])
            return True
    return False


def _finish(run: Run, steps: list[StepRun], now) -> None:
    statuses = {s.status for s in steps}
    if run.status == RunStatus.STOPPING or StepStatus.STOPPED in statuses:
        run.status = RunStatus.STOPPED
    elif StepStatus.FAILED in statuses:
        run.status = RunStatus.FAILED
        failed = [s.name for s in steps if s.status == StepStatus.FAILED]
        run.error = f"Step '{failed[0]}' failed."
    else:
        run.status = RunStatus.SUCCEEDED
    run.started_at = run.started_at or now
    run.finished_at = now
    run.save(update_fields=["status", "error", "started_at", "finished_at"])
    tokens_revoke_for_run(run_id=run.pk)
    run_id = run.pk
    transaction.on_commit(lambda: run_finished.send(sender=Run, run_id=run_id))


def run_stop(*, user: AbstractBaseUser | None, run: Run, reason: str = "") -> Run:
    """Ask a run to stop: pending steps end as stopped, running ones are killed by their worker.

    ``user`` None is the system (a quota past), which gives its ``reason``; the run keeps it."""
    if user is not None and not can_change_run(user, run):
        raise Forbidden("You may not stop this run.")
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.is_final:
            raise Conflict(f"Run {run.pk} has already ended ({locked.status}).")
        locked.status = RunStatus.STOPPING
        locked.error = reason[:4000] if reason else locked.error
        locked.save(update_fields=["status", "error"])
        audit_record(actor=user, action=Action.RUN_STOP, team=locked.namespace_id, target_type="run",
                     target=str(run.pk), data={"reason": reason} if reason else None)
        StepRun.objects.filter(run=locked, status__in=[StepStatus.PENDING, StepStatus.QUEUED]).update(
            status=StepStatus.STOPPED, finished_at=timezone.now()
        )
    run_advance(run_id=run.pk)
    from .subruns import subruns_stop

    subruns_stop(run_id=run.pk)  # a sub-workflow step ends (stopped) when its child run does
    run.refresh_from_db()
    return run
