"""Tracked runs: runs created by code outside a published workflow (``flowdeck.start_run``,
or a workflow run locally with a server configured), grouped into experiments.

They have no asset version and no steps: the client logs to them with the same
``log_batch`` and artifact services as a workflow step, and ends them itself.
"""
from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.access import can_change_run, require_write
from accounts.models import Team
from core.errors import Conflict, Forbidden, InvalidInput

from ..models import RUN_FINAL, Experiment, Run, RunStatus
from ..signals import run_finished
from .tracking import log_batch

MAX_NAME = 200
MAX_ERROR = 10_000


def _name(value, *, field: str, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {value!r}.", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} is required.", field=field)
    if len(value) > MAX_NAME:
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters.", field=field)
    return value


def run_create_tracked(
    *,
    user: AbstractBaseUser,
    experiment: str,
    name: str = "",
    namespace: Team | None = None,
    tags: Mapping | None = None,
) -> Run:
    """Create a running run in ``experiment`` (created on first use) in the user's personal
    namespace, or in ``namespace`` if they may write there. Tags are checked like any
    logged tag; a bad one creates nothing."""
    experiment = _name(experiment, field="experiment", required=True)
    name = _name(name, field="name", required=False)
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidInput("tags must be an object of key: value.", field="tags")
    team = namespace or Team.objects.get(personal_of=user)
    require_write(user, team, what="track runs")
    now = timezone.now()
    with transaction.atomic():
        # get_or_create survives a concurrent first run of the same experiment.
        exp, _ = Experiment.objects.get_or_create(namespace=team, name=experiment)
        run = Run.objects.create(
            name=name, namespace=team, created_by=user, experiment=exp, status=RunStatus.RUNNING, started_at=now
        )
        if tags:
            log_batch(run=run, tags=tags)
    return run


def run_end(*, user: AbstractBaseUser, run: Run, status: str, error: str = "") -> Run:
    """End a tracked run as succeeded, failed or stopped. Workflow runs end through their
    steps (or ``run_stop``), never here; a run ends once (Conflict after that)."""
    if status not in RUN_FINAL:
        raise InvalidInput(f"status must be one of {', '.join(sorted(RUN_FINAL))}, got {status!r}.", field="status")
    if not isinstance(error, str):
        raise InvalidInput("error must be a string.", field="error")
    if not can_change_run(user, run):
        raise Forbidden(f"You may not end run {run.pk}.")
    if run.asset_version_id is not None:
        raise Conflict(
            f"Run {run.pk} is a workflow run; it ends when its steps do (stop it instead).", code="not_tracked"
        )
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.is_final:
            raise Conflict(f"Run {run.pk} has already ended ({locked.status}).")
        locked.status = status
        locked.error = error[:MAX_ERROR]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
        run_id = run.pk
        transaction.on_commit(lambda: run_finished.send(sender=Run, run_id=run_id))
    run.status, run.error, run.finished_at = locked.status, locked.error, locked.finished_at
    return run
