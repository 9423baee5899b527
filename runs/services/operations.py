"""Operations on finished runs: retry, copy and delete."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.access import can_change_run
from core import storage
from core.errors import Conflict, Forbidden, InvalidInput

from ..models import Run, RunStatus, StepRun, StepStatus
from .lifecycle import run_start


def _require_change(user: AbstractBaseUser, run: Run, what: str) -> None:
    if not can_change_run(user, run):
        raise Forbidden(f"You may not {what} run {run.pk}.")


def run_retry(*, user: AbstractBaseUser, run: Run) -> Run:
    """Give failed, stopped and skipped steps (and so everything downstream of them) a new
    attempt in the same run; succeeded steps keep their outputs and are not run again."""
    _require_change(user, run, "retry")
    if run.asset_version_id is None:
        raise InvalidInput(f"Run {run.pk} was tracked, not orchestrated; there are no steps to retry.", field="run")
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if not locked.is_final:
            raise Conflict(f"Run {run.pk} is still {locked.status}; stop it or wait before retrying.")
        if locked.status == RunStatus.SUCCEEDED and not locked.steps.exclude(status=StepStatus.SUCCEEDED).exists():
            raise Conflict(f"Run {run.pk} succeeded; there is nothing to retry (copy it to run again).")
        StepRun.objects.filter(run=locked).exclude(status=StepStatus.SUCCEEDED).update(
            status=StepStatus.PENDING, queued_at=None, started_at=None, finished_at=None, heartbeat_at=None,
            error="", exit_code=None, outputs={}, gate=None, cache_key="", cached_from=None,
        )
        locked.status, locked.error, locked.finished_at = RunStatus.QUEUED, "", None
        locked.save(update_fields=["status", "error", "finished_at"])
        from ..tasks import run_advance_task

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
    _require_change(user, run, "delete")
    if not run.is_final:
        raise Conflict(f"Run {run.pk} is {run.status}; stop it before deleting it.")
    run_id = run.pk
    with transaction.atomic():
        Run.objects.filter(pk=run_id).delete()
    # After the rows: a crash here leaves unreferenced files, never rows without files.
    return storage.delete_prefix(storage.run_prefix(run_id))
