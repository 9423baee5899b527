"""Team quotas: concurrent runs, storage and run duration.

- A run started while its team already has ``max_concurrent_runs`` runs going is created
  with status ``waiting`` ("waiting for quota") instead of being refused. When a run of
  the team ends, ``quota_release`` starts the oldest waiting ones that now fit; the
  periodic ``quota_enforce`` does it too, in case that signal was lost.
- An artifact or bundle that would take the team past ``max_storage_bytes`` is refused
  (413, code ``quota_exceeded``, naming the quota). Storage used is the sum of the team's
  run artifacts and of its published versions' bundles.
- ``quota_enforce`` stops runs that have run longer than ``max_run_duration_s``.

Sub-workflow child runs take no slot of their own: their parent holds one, and making them
wait on it would deadlock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import Forbidden, InvalidInput, QuotaExceeded

from ..access import can_manage_quota
from ..models import Team
from .audit import Action, audit_record

log = logging.getLogger(__name__)
FIELDS = ("max_concurrent_runs", "max_storage_bytes", "max_run_duration_s")
_UNSET = object()


@dataclass(frozen=True)
class Limits:
    """A team's effective limits; 0 means no limit."""

    max_concurrent_runs: int
    max_storage_bytes: int
    max_run_duration_s: int


@dataclass(frozen=True)
class Usage:
    current_runs: int
    waiting_runs: int
    storage_bytes: int
    runs_this_month: int


def quota_limits(team: Team) -> Limits:
    """The team's own limit where it has one, else the site default (FLOWDECK_QUOTA_*)."""
    def pick(name: str) -> int:
        own = getattr(team, name)
        return int(own) if own is not None else int(getattr(settings, f"FLOWDECK_QUOTA_{name.upper()}"))

    return Limits(*(pick(name) for name in FIELDS))


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _active_runs(team_id: int):
    from runs.models import Run, RunStatus

    return Run.objects.filter(
        namespace_id=team_id, parent_step__isnull=True, asset_version__isnull=False,
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING],
    )


def _waiting_runs(team_id: int):
    from runs.models import Run, RunStatus

    return Run.objects.filter(namespace_id=team_id, status=RunStatus.WAITING)


def storage_used(team: Team | int) -> int:
    from registry.models import AssetVersion
    from runs.models import Artifact

    team_id = team.pk if isinstance(team, Team) else team
    artifacts = Artifact.objects.filter(run__namespace_id=team_id).aggregate(n=Sum("size"))["n"] or 0
    bundles = AssetVersion.objects.filter(asset__namespace_id=team_id).aggregate(n=Sum("bundle_size"))["n"] or 0
    return int(artifacts) + int(bundles)


def team_usage(*, team: Team) -> Usage:
    from runs.models import Run

    month = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Usage(
        current_runs=_active_runs(team.pk).count(),
        waiting_runs=_waiting_runs(team.pk).count(),
        storage_bytes=storage_used(team),
        runs_this_month=Run.objects.filter(namespace=team, parent_step__isnull=True, created_at__gte=month).count(),
    )


# --- concurrent runs ------------------------------------------------------------------------
def run_admission(*, team: Team) -> str:
    """The status a new top-level run of ``team`` starts with: ``queued``, or ``waiting``
    when the team's concurrent-run quota is full (or others already wait: first come, first
    served). Call inside the transaction that creates the run: it locks the team's row, so
    two runs started at once cannot both take the last slot."""
    from runs.models import RunStatus

    limit = quota_limits(team).max_concurrent_runs
    if not limit:
        return RunStatus.QUEUED
    Team.objects.select_for_update().filter(pk=team.pk).first()
    active = _active_runs(team.pk).count()
    _warn_if_near(team, "concurrent_runs", used=min(active + 1, limit), limit=limit)
    if active >= limit or _waiting_runs(team.pk).exists():
        return RunStatus.WAITING
    return RunStatus.QUEUED


def _warn_if_near(team: Team, quota: str, *, used: int, limit: int) -> None:
    # The notifications app decides whether ``used`` is near enough and tells each admin once a day.
    from notifications.services import notify_quota_nearly_reached

    notify_quota_nearly_reached(team=team, quota=quota, used=used, limit=limit)


def waiting_reason(team: Team) -> str:
    limit = quota_limits(team).max_concurrent_runs
    return f"Waiting for quota: '{team.slug}' runs at most {limit} run{'s' if limit != 1 else ''} at once."


def quota_release(*, team_id: int) -> list[int]:
    """Start the oldest waiting runs of the team that fit in its free slots. Returns their ids."""
    from runs.models import Run, RunStatus
    from runs.tasks import run_advance_task

    with transaction.atomic():
        team = Team.objects.select_for_update().filter(pk=team_id).first()
        if team is None:
            return []
        limit = quota_limits(team).max_concurrent_runs
        waiting = _waiting_runs(team_id).order_by("created_at", "pk")
        if limit:
            waiting = waiting[: max(limit - _active_runs(team_id).count(), 0)]
        ids = list(waiting.values_list("pk", flat=True))
        if ids:
            Run.objects.filter(pk__in=ids, status=RunStatus.WAITING).update(status=RunStatus.QUEUED)
            for run_id in ids:
                run_advance_task.delay_on_commit(run_id)
    return ids


def on_run_finished(sender, run_id: int, **kwargs) -> None:
    """A run ended: a slot of its team may be free for a waiting run."""
    from runs.models import Run, RunStatus

    row = Run.objects.filter(pk=run_id).values_list("namespace_id", flat=True).first()
    if row is not None and Run.objects.filter(namespace_id=row, status=RunStatus.WAITING).exists():
        quota_release(team_id=row)


# --- storage ----------------------------------------------------------------------------------
def quota_storage_check(*, team: Team, adding: int, what: str = "This upload") -> None:
    """QuotaExceeded when ``adding`` more bytes would take ``team`` past its storage quota."""
    limit = quota_limits(team).max_storage_bytes
    if not limit or adding <= 0:
        return
    used = storage_used(team)
    _warn_if_near(team, "storage_bytes", used=min(used + adding, limit), limit=limit)
    if used + adding > limit:
        raise QuotaExceeded(
            f"Storage quota exceeded: '{team.slug}' may store at most {human_bytes(limit)} (max_storage_bytes); "
            f"{human_bytes(used)} is used and {what.lower() if what[0].isupper() else what} adds "
            f"{human_bytes(adding)}. Delete runs or ask a team admin to raise the quota.",
            field="max_storage_bytes",
        )


# --- duration, and the periodic pass ----------------------------------------------------------
def quota_enforce() -> dict[str, int]:
    """Stop runs past their team's max_run_duration_s, and start waiting runs that fit (in
    case a run_finished signal was lost). Returns what it did."""
    from runs.models import Run, RunStatus
    from runs.services.lifecycle import run_stop

    done = {"stopped": 0, "released": 0}
    now = timezone.now()
    limits: dict[int, Limits] = {}
    running = Run.objects.filter(status=RunStatus.RUNNING, parent_step__isnull=True, started_at__isnull=False)
    for run in running.select_related("namespace"):
        limit = limits.setdefault(run.namespace_id, quota_limits(run.namespace)).max_run_duration_s
        if limit and run.started_at < now - timedelta(seconds=limit):
            reason = (f"Stopped: the run passed '{run.namespace.slug}''s maximum run duration of "
                      f"{timedelta(seconds=limit)} (max_run_duration_s).")
            try:
                run_stop(user=None, run=run, reason=reason)
                done["stopped"] += 1
            except Exception:  # one run's trouble must not stop the pass
                log.exception("could not stop run %s past its duration quota", run.pk)
    waiting_teams = Run.objects.filter(status=RunStatus.WAITING).values_list("namespace_id", flat=True).distinct()
    for team_id in list(waiting_teams):
        done["released"] += len(quota_release(team_id=team_id))
    return done


def quota_set(*, actor: AbstractBaseUser, team: Team, max_concurrent_runs=_UNSET, max_storage_bytes=_UNSET,
              max_run_duration_s=_UNSET) -> Team:
    """Change a team's quotas (its admins and site admins). A value of None goes back to
    the site default; 0 means no limit. Raising the run limit starts waiting runs at once."""
    if not can_manage_quota(actor, team):
        raise Forbidden(f"You need the admin role in '{team.slug}' to change its quotas.", field="team")
    given = {"max_concurrent_runs": max_concurrent_runs, "max_storage_bytes": max_storage_bytes,
             "max_run_duration_s": max_run_duration_s}
    changes = {}
    for name, value in given.items():
        if value is _UNSET:
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidInput(f"{name} must be a whole number of at least 0 (0: no limit), or null for the "
                               "site default.", field=name)
        if getattr(team, name) != value:
            changes[name] = value
    if changes:
        with transaction.atomic():
            old = {name: getattr(team, name) for name in changes}
            Team.objects.filter(pk=team.pk).update(**changes)
            for name, value in changes.items():
                setattr(team, name, value)
            audit_record(actor=actor, action=Action.QUOTA_CHANGE, team=team, target_type="team", target=team.slug,
                         data={"from": old, "to": changes})
        if "max_concurrent_runs" in changes:
            quota_release(team_id=team.pk)
    return team
