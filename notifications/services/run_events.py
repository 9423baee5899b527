"""A run's end, told to its owner and to the subscribers of its workflow who asked.

There is no "waiting on a gate" state in the engine: a gate is evaluated once, when the
step's dependencies are done, and a false gate skips the step at once. So the gate event
is "a gate blocked (skipped) a step", and it is sent when the run ends, with every step a
gate blocked in that run: the engine's hot path is not touched.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.access import run_audience_filter
from gallery.models import Subscription
from runs.models import Run, RunStatus, StepRun

from ..models import Event
from .fanout import Message, notify_users

User = get_user_model()

RUN_EVENTS = {
    RunStatus.SUCCEEDED: Event.RUN_SUCCEEDED,
    RunStatus.FAILED: Event.RUN_FAILED,
    RunStatus.STOPPED: Event.RUN_STOPPED,
}


def _run_data(run: Run) -> dict:
    version = run.asset_version
    return {
        "run": {
            "id": run.pk,
            "name": run.name,
            "status": run.status,
            "error": run.error,
            "workflow": version.asset.full_name if version else None,
            "version": version.version if version else None,
            "namespace": run.namespace.slug,
            "created_by": run.created_by.username,
            "params": run.params,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "duration_s": run.duration_s,
        }
    }


def _audience(run: Run) -> tuple[list[int], set[int]]:
    """The owner, then the subscribers of the run's workflow who may see the run; the second
    set holds those who must have chosen the event (everyone but the owner)."""
    subscribers = list(
        User.objects.filter(run_audience_filter(run))
        .filter(pk__in=Subscription.objects.filter(asset_id=run.asset_version.asset_id).values("user_id"))
        .exclude(pk=run.created_by_id)
        .values_list("pk", flat=True)
        .distinct()
    )
    return [run.created_by_id, *subscribers], set(subscribers)


def notify_run_finished(*, run_id: int) -> int:
    """Tell who should know that run ``run_id`` ended, and which steps its gates blocked.
    Idempotent. Sub-workflow child runs are told through their parent run only. Returns
    how many notifications were made."""
    run = (
        Run.objects.select_related("asset_version__asset__namespace", "namespace", "created_by")
        .filter(pk=run_id)
        .first()
    )
    if run is None or run.status not in RUN_EVENTS or run.asset_version is None or run.parent_step_id:
        return 0
    asset = run.asset_version.asset
    user_ids, need_choice = _audience(run)
    url = reverse("runs:detail", kwargs={"run_id": run.pk})
    label = f"Run {run.pk}{f' ({run.name})' if run.name else ''} of {asset.full_name}@{run.asset_version.version}"
    event = RUN_EVENTS[RunStatus(run.status)]
    data = _run_data(run)
    made = notify_users(
        message=Message(
            event=event, key=f"run:{run.pk}:{event}", title=f"{label} {run.status}",
            body=run.error or f"Started by {run.created_by.username} in {run.namespace.slug}.",
            url=url, data=data, asset=asset, run=run,
        ),
        user_ids=user_ids, need_choice=need_choice,
    )
    blocked = [
        {"step": s.name, "gate": s.gate.get("expr"), "values": s.gate.get("values", {})}
        for s in StepRun.objects.filter(run=run, gate__passed=False).only("name", "gate").order_by("position")
    ]
    if blocked:
        made += notify_users(
            message=Message(
                event=Event.GATE_BLOCKED, key=f"run:{run.pk}:{Event.GATE_BLOCKED}",
                title=f"{label}: a quality gate blocked {', '.join(b['step'] for b in blocked)}",
                body="\n".join(f"{b['step']}: {b['gate']} was false with {b['values']}" for b in blocked),
                url=url, data={**data, "blocked_steps": blocked}, asset=asset, run=run,
            ),
            user_ids=user_ids, need_choice=need_choice,
        )
    return made
