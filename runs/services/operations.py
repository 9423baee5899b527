"""Operations on finished runs: retry, copy and delete."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.access import can_change_run, can_delete_run
from accounts.services import Action, audit_record
from accounts.services.quotas import run_admission
from core import storage
from core.errors import Conflict, Forbidden, InvalidInput
from flowdeck.expr import parse as parse_expr

from ..models import Run, RunStatus, StepRun, StepStatus
from .lifecycle import params_check, run_start
from .partial import NOT_SELECTED, descendants
from .subruns import subrun_descendants, subrun_parent_guard


def _require_change(user: AbstractBaseUser, run: Run, what: str) -> None:
    if not can_change_run(user, run):
        raise Forbidden(f"You may not {what} run {run.pk}.")


def steps_reading_params(specs: dict[str, dict], changed: set[str]) -> set[str]:
    """The steps whose inputs (``params`` or ``params.<name>``) or gate read a parameter in ``changed``."""
    if not changed:
        return set()
    found = set()
    for name, spec in specs.items():
        refs = set(spec.get("inputs", {}).values())
        if "params" in refs or any(f"params.{p}" in refs for p in changed):
            found.add(name)
        elif spec.get("when") and any(f"params.{p}" in parse_expr(spec["when"]).names() for p in changed):
            found.add(name)
    return found


def run_retry(*, user: AbstractBaseUser, run: Run, params: dict | None = None) -> Run:
    """Give failed, stopped and skipped steps (and so everything downstream of them) a new
    attempt in the same run; succeeded steps keep their outputs and are not run again.

    ``params`` edits the run's parameters first (checked as ``run_start`` checks them): the
    steps that read a changed parameter, and everything downstream of them, run again too.
    Steps a partial run did not select stay skipped.
    """
    _require_change(user, run, "retry")
    subrun_parent_guard(run, what="retry")
    if run.asset_version_id is None:
        raise InvalidInput(f"Run {run.pk} was tracked, not orchestrated; there are no steps to retry.", field="run")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("params must be an object of name: value.", field="params")
    with transaction.atomic():
        locked = Run.objects.select_for_update(of=("self",)).select_related("asset_version").get(pk=run.pk)
        if not locked.is_final:
            raise Conflict(f"Run {run.pk} is still {locked.status}; stop it or wait before retrying.")
        values = params_check(locked.asset_version, {**locked.params, **params}) if params else locked.params
        changed = {k for k in set(values) | set(locked.params) if values.get(k) != locked.params.get(k)}
        specs = {s["name"]: s for s in locked.asset_version.spec["steps"]}
        rows = list(locked.steps.values_list("name", "status", "error"))
        not_selected = {n for n, status, error in rows if status == StepStatus.SKIPPED and error == NOT_SELECTED}
        unfinished = {n for n, status, _ in rows if status != StepStatus.SUCCEEDED} - not_selected
        again = descendants(specs, unfinished | steps_reading_params(specs, changed)) - not_selected
        if not again:
            what = "no step reads the parameters changed" if changed else "there is nothing to retry"
            raise Conflict(f"Run {run.pk} succeeded and {what}; copy it to run it again.")
        StepRun.objects.filter(run=locked, name__in=again).update(
            status=StepStatus.PENDING, queued_at=None, started_at=None, finished_at=None, heartbeat_at=None,
            error="", exit_code=None, outputs={}, gate=None, cache_key="", cached_from=None, worker="",
        )
        # A retried run is going again: its team's concurrent-run quota may make it wait.
        status = run_admission(team=locked.namespace) if locked.parent_step_id is None else RunStatus.QUEUED
        locked.status, locked.error, locked.finished_at, locked.params = status, "", None, values
        locked.save(update_fields=["status", "error", "finished_at", "params"])
        from ..tasks import run_advance_task

        if status == RunStatus.QUEUED:
            run_advance_task.delay_on_commit(locked.pk)
    run.refresh_from_db()
    return run


def run_copy(*, user: AbstractBaseUser, run: Run, params: dict | None = None, name: str = "") -> Run:
    """A new run of the same version with the same parameters, ``params`` overriding some."""
    if run.asset_version_id is None:
        raise InvalidInput(f"Run {run.pk} was tracked, not orchestrated; it cannot be copied.", field="run")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("params must be an object of name: value.", field="params")
    return run_start(user=user, version=run.asset_version, params={**run.params, **(params or {})},
                     name=name or (f"copy of {run.name}" if run.name else f"copy of run {run.pk}"))


def run_delete(*, user: AbstractBaseUser, run: Run) -> int:
    """Delete a finished run's records and its stored files. Returns how many files were removed."""
    if not can_delete_run(user, run):
        raise Forbidden(f"You may not delete run {run.pk}: editors delete their own runs, admins any.")
    if not run.is_final:
        raise Conflict(f"Run {run.pk} is {run.status}; stop it before deleting it.")
    subrun_parent_guard(run, what="delete")
    run_id = run.pk
    run_ids = [run_id, *subrun_descendants(run_id=run_id)]  # its sub-workflow runs go with it
    reusers = sorted(set(
        StepRun.objects.filter(cached_from__run_id__in=run_ids).exclude(run_id__in=run_ids).values_list("run_id", flat=True)
    ))
    if reusers:
        shown = ", ".join(str(i) for i in reusers[:10]) + (" ..." if len(reusers) > 10 else "")
        raise Conflict(f"Run {run_id}'s outputs are reused by run(s) {shown} (cache hits or partial runs); "
                       "delete those first.")
    with transaction.atomic():
        Run.objects.filter(pk=run_id).delete()
        audit_record(actor=user, action=Action.RUN_DELETE, team=run.namespace_id, target_type="run",
                     target=str(run_id), data={"workflow": str(run.asset_version) if run.asset_version_id else ""})
    # After the rows: a crash here leaves unreferenced files, never rows without files.
    return sum(storage.delete_prefix(storage.run_prefix(i)) for i in run_ids)
