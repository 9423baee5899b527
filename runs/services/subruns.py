"""Sub-workflow steps: a step whose spec has ``uses`` runs a published workflow as a child run.

``step_dispatch`` calls ``subrun_start`` instead of sending ``step_execute``: the child run is
created (same namespace and creator, ``parent_step`` set) in ``run_advance``'s transaction
and the parent step is marked running, its ``worker`` naming the child. When the child ends,
``run_finished`` brings us back (a task retries it if that fails; the reaper settles what is left):
the parent step takes the child's outputs, which point at the child's stored objects (never
copied: outputs are written once), or fails or stops naming the child run; then the parent
is advanced. Stopping a run stops its children; deleting it deletes them and their files.

A problem found when starting the child (a version that is missing, hidden from the run's
creator or yanked, a parameter that does not fit, a workflow that would run inside itself)
fails the step with a clear error: it never breaks ``run_advance``.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from core.errors import Conflict, FlowdeckError, InvalidInput
from flowdeck.gates import NOT_SCALAR, json_scalar
from flowdeck.subworkflow import parse_uses
from registry.models import AssetVersion
from registry.selectors import asset_get, version_get

from ..models import RUN_FINAL, Run, RunStatus, StepRun, StepStatus
from ..signals import run_finished

log = logging.getLogger(__name__)

# How deep sub-workflows may nest (a parent run is level 0). A workflow that uses itself,
# directly or through others, is caught earlier; this bounds everything else.
MAX_DEPTH = 5
WORKER_PREFIX = "sub-run "


def subrun_worker(child_run_id: int) -> str:
    """What a sub-workflow step's ``worker`` says while its child run ``child_run_id`` runs."""
    return f"{WORKER_PREFIX}{child_run_id}"


def subrun_start(step: StepRun, spec: dict) -> Run | None:
    """Start the child run of queued sub-workflow step ``step`` (spec ``spec``) and mark the
    step running; or fail the step, saying why, and have its run advanced on commit.

    Called inside ``run_advance``'s transaction, holding the parent run's row lock. Returns
    the child run, or None when the step failed."""
    now = timezone.now()
    # Claimed like a worker claims a step: a resent dispatch of the same step starts nothing.
    claimed = StepRun.objects.filter(pk=step.pk, status=StepStatus.QUEUED).update(
        status=StepStatus.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, attempt=F("attempt") + 1,
        worker=WORKER_PREFIX.strip(), exit_code=None, error="",
    )
    if not claimed:
        return None
    parent = step.run
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves run_advance's work intact
            child = _child_start(parent, step, spec)
            StepRun.objects.filter(pk=step.pk).update(worker=subrun_worker(child.pk))
    except FlowdeckError as exc:
        _fail(step, f"Sub-workflow {spec['uses']}: {exc.message}")
        return None
    except Exception as exc:  # a bug or infrastructure trouble: on the step, never in run_advance
        log.exception("could not start sub-workflow step %s of run %s", step.name, parent.pk)
        _fail(step, f"Could not start sub-workflow {spec['uses']}: {type(exc).__name__}: {exc}")
        return None
    return child


def _child_start(parent: Run, step: StepRun, spec: dict) -> Run:
    from .lifecycle import run_start

    namespace, name, number = parse_uses(spec["uses"]) or (None, None, None)
    if namespace is None:  # the spec was checked on publish; an old or hand-made one may not be
        raise InvalidInput(f"'{spec['uses']}' is not namespace/name@MAJOR.MINOR.PATCH.", field="uses")
    user = parent.created_by
    version = version_get(asset=asset_get(user=user, namespace=namespace, name=name), version=number)
    _check_nesting(parent, version)
    _check_outputs(version, spec)
    params = dict(spec.get("params") or {})
    params.update(_mapped_inputs(parent, spec))
    label = parent.name or f"run {parent.pk}"
    child = run_start(user=user, version=version, params=params, name=f"{label} › {step.name}"[:200],
                      namespace=parent.namespace, sub_run=True)
    # Still inside this transaction: the child's first run_advance (sent on commit) sees the link.
    Run.objects.filter(pk=child.pk).update(parent_step=step)
    child.parent_step = step
    return child


def _check_nesting(parent: Run, version: AssetVersion) -> None:
    """Refuse a child that would run a version already running above it (a workflow using
    itself, directly or not), and nesting deeper than MAX_DEPTH."""
    chain: list[Run] = [parent]
    while chain[-1].parent_step_id is not None and len(chain) <= MAX_DEPTH:
        chain.append(StepRun.objects.select_related("run").get(pk=chain[-1].parent_step_id).run)
    path = " → ".join(f"run {r.pk} ({r.asset_version})" for r in reversed(chain))
    if any(r.asset_version_id == version.pk for r in chain):
        raise InvalidInput(f"{version} would run inside itself ({path} → {version}); "
                           f"a workflow cannot use itself, directly or through another.", field="uses")
    if len(chain) > MAX_DEPTH:
        raise InvalidInput(f"Sub-workflows nest deeper than {MAX_DEPTH} levels ({path} → {version}).", field="uses")


def _check_outputs(version: AssetVersion, spec: dict) -> None:
    """Every output the step maps must be declared by a step of the child workflow, so a
    wrong mapping fails now rather than after the child has run."""
    child_steps = {s["name"]: s for s in version.spec.get("steps") or []}
    for out, ref in (spec.get("outputs_from") or {}).items():
        head, _, tail = ref.partition(".")
        if head not in child_steps:
            raise InvalidInput(f"output '{out}' comes from '{ref}', but {version} has no step '{head}' "
                               f"(its steps: {', '.join(child_steps)}).", field=f"outputs_from.{out}")
        if tail not in (child_steps[head].get("outputs") or []):
            raise InvalidInput(f"output '{out}' comes from '{ref}', but step '{head}' of {version} "
                               f"never produces '{tail}'.", field=f"outputs_from.{out}")


def _mapped_inputs(parent: Run, spec: dict) -> dict:
    """The child parameters the step reads from the parent: its params, or outputs of
    upstream steps that were recorded as JSON scalars (the server never unpickles one)."""
    inputs = spec.get("inputs") or {}
    heads = {ref.partition(".")[0] for ref in inputs.values()} - {"params"}
    upstream = {s.name: s for s in StepRun.objects.filter(run_id=parent.pk, name__in=heads)}
    values = {}
    for key, ref in inputs.items():
        head, _, tail = ref.partition(".")
        if ref == "params":
            values[key] = dict(parent.params or {})
        elif head == "params":
            values[key] = (parent.params or {}).get(tail)
        else:
            produced = (upstream[head].outputs or {}).get(tail) if head in upstream else None
            value = produced.get("value", NOT_SCALAR) if isinstance(produced, dict) else NOT_SCALAR
            if json_scalar(value) is NOT_SCALAR:
                raise InvalidInput(
                    f"parameter '{key}' reads {ref}, which is not a number, string, bool or null; only such "
                    f"outputs can be passed to a sub-workflow.", field=f"inputs.{key}")
            values[key] = value
    # A parameter the parent run left unset (None) leaves the child's default in place.
    return {key: value for key, value in values.items() if value is not None}


def _fail(step: StepRun, error: str) -> None:
    now = timezone.now()
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.FAILED, finished_at=now, error=error[:4000], worker="")
    from ..tasks import run_advance_task

    # run_advance is running (it called us); the message, sent on commit, moves the run on.
    run_advance_task.delay_on_commit(step.run_id)


def subrun_metrics_run_id(step: StepRun) -> int | None:
    """For a sub-workflow step, the child run that produced its outputs: a gate reading
    ``<step>.metrics.<key>`` reads that run's metrics. None for any other step."""
    if not step.worker.startswith(WORKER_PREFIX):
        return None
    return Run.objects.filter(parent_step=step).order_by("-pk").values_list("pk", flat=True).first()


# --- when a child run ends ------------------------------------------------------------------------
@receiver(run_finished, dispatch_uid="runs.subruns.child_finished")
def _child_finished(sender, run_id: int, **kwargs) -> None:
    if not Run.objects.filter(pk=run_id, parent_step__isnull=False).exists():
        return
    # At once, in the process that ended the child (as a step's end advances its run), so no
    # broker hop is needed; on trouble, a task retries it, and the reaper is the last resort.
    try:
        subrun_finished(child_run_id=run_id)
    except Exception:
        log.exception("could not settle the parent step of run %s now; queueing it", run_id)
        from ..tasks import subrun_finished_task

        subrun_finished_task.delay(run_id)


def subrun_finished(*, child_run_id: int) -> bool:
    """Settle the parent step of the finished child run ``child_run_id`` and advance the
    parent run. Idempotent: only the step still running this very child changes (a retried
    parent step runs a new child, and a late message about an old one changes nothing).
    Returns whether the step changed."""
    child = Run.objects.select_related("parent_step__run__asset_version").filter(pk=child_run_id).first()
    if child is None or child.parent_step_id is None or not child.is_final:
        return False
    step = child.parent_step
    spec = next((s for s in step.run.asset_version.spec["steps"] if s["name"] == step.name), {})
    outputs: dict = {}
    error = ""
    if child.status == RunStatus.SUCCEEDED:
        status = StepStatus.SUCCEEDED
        produced = {s.name: s.outputs or {} for s in child.steps.only("name", "outputs")}
        for out, ref in (spec.get("outputs_from") or {}).items():
            head, _, tail = ref.partition(".")
            found = produced.get(head, {}).get(tail)
            if not found:
                status = StepStatus.FAILED
                error = f"Child run {child.pk} succeeded, but its step '{head}' left no output '{tail}' (was it skipped?)."
                outputs = {}
                break
            outputs[out] = dict(found)  # the child's stored object, shared, not copied
    elif child.status == RunStatus.STOPPED:
        status, error = StepStatus.STOPPED, f"Child run {child.pk} was stopped."
    else:
        status = StepStatus.FAILED
        error = f"Child run {child.pk} failed: {child.error or 'see its steps'}"
    changed = StepRun.objects.filter(
        pk=step.pk, status=StepStatus.RUNNING, worker=subrun_worker(child.pk),
    ).update(status=status, finished_at=timezone.now(), outputs=outputs, error=error[:4000])
    if changed:
        from .lifecycle import run_advance

        run_advance(run_id=step.run_id, finished=step.name)
    return bool(changed)


def subruns_settle_lost(*, older_than_s: float = 30.0) -> int:
    """Settle the sub-workflow steps still running although their child run ended more than
    ``older_than_s`` seconds ago (the process that ended it died before settling, say).
    Called by the reaper; returns how many steps it settled."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    ended = Run.objects.filter(parent_step__status=StepStatus.RUNNING, status__in=RUN_FINAL, finished_at__lt=cutoff)
    return sum(subrun_finished(child_run_id=pk) for pk in ended.values_list("pk", flat=True))


# --- stop and delete ------------------------------------------------------------------------------
def subruns_stop(*, run_id: int) -> list[int]:
    """Stop the child runs still going under run ``run_id`` (and theirs, since stopping a
    child comes back here). Each child, once stopped, stops its parent step through
    ``subrun_finished``. Returns the ids of the children asked to stop."""
    from .lifecycle import run_stop

    asked = []
    live = Run.objects.filter(parent_step__run_id=run_id).exclude(status__in=[*RUN_FINAL, RunStatus.STOPPING])
    for child in live.select_related("created_by", "namespace"):
        try:
            # The child has the parent's creator and namespace, so whoever may stop the parent may stop it.
            run_stop(user=child.created_by, run=child)
        except Conflict:
            continue  # it ended meanwhile
        asked.append(child.pk)
    return asked


def subrun_descendants(*, run_id: int) -> list[int]:
    """The ids of every run started, at any depth, by sub-workflow steps of run ``run_id``."""
    found: list[int] = []
    frontier = [run_id]
    while frontier:
        frontier = list(Run.objects.filter(parent_step__run_id__in=frontier).values_list("pk", flat=True))
        found.extend(frontier)
    return found


def subrun_parent_guard(run: Run, *, what: str) -> None:
    """A child run is retried and deleted with its parent, never alone: the parent step's
    outputs are the child's stored objects, and only the parent's step starts a child."""
    if run.parent_step_id is not None:
        parent = StepRun.objects.filter(pk=run.parent_step_id).values_list("run_id", "name").first()
        if parent:
            raise Conflict(f"Run {run.pk} is the sub-workflow of run {parent[0]} (step '{parent[1]}'); "
                           f"{what} run {parent[0]} instead.")
