"""Telling a team's admins that a quota is nearly used up.

Quota code calls ``notify_quota_nearly_reached`` wherever it measures usage (a run start, an
upload); it only queues a task on commit, so the caller's request pays nothing for it.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.access import team_admin_filter
from accounts.models import Team

from ..models import Event
from .fanout import Message, notify_users

User = get_user_model()


def quota_is_nearly_reached(*, used: float, limit: float | None) -> bool:
    """Whether ``used`` is at or past FLOWDECK_QUOTA_WARN_RATIO of ``limit`` (None: no limit)."""
    return bool(limit) and used >= settings.FLOWDECK_QUOTA_WARN_RATIO * limit


def notify_quota_nearly_reached(*, team: Team, quota: str, used: float, limit: float) -> None:
    """Queue a "quota nearly reached" notification to ``team``'s admins, once a day per quota.

    ``quota`` names it (e.g. "concurrent_runs", "storage_bytes", "run_duration_s"); ``used`` and
    ``limit`` are in its unit. Safe to call on every measurement: it does nothing below the
    warning ratio, and the task tells each admin once per team, quota and UTC day."""
    if not quota_is_nearly_reached(used=used, limit=limit):
        return
    from ..tasks import notify_quota_task

    team_id, day = team.pk, timezone.now().date().isoformat()
    transaction.on_commit(lambda: notify_quota_task.delay(team_id, quota, used, limit, day))


def _amount(quota: str, value: float) -> str:
    if quota.endswith("bytes"):
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if abs(value) < 1024 or unit == "TB":
                return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            value /= 1024
    return f"{value:g}"


def quota_notice(*, team_id: int, quota: str, used: float, limit: float, day: str) -> int:
    """Tell the team's admins (the task's body). Returns how many were told."""
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    percent = round(100 * used / limit) if limit else 100
    label = quota.replace("_", " ")
    admins = User.objects.filter(team_admin_filter(team)).values_list("pk", flat=True).distinct()
    return notify_users(
        message=Message(
            event=Event.QUOTA_NEARLY_REACHED, key=f"quota:{team.pk}:{quota}:{day}",
            title=f"{team.slug}: {label} at {percent}% of its quota",
            body=f"{_amount(quota, used)} used of {_amount(quota, limit)}. "
                 "Past the limit, new work waits or is refused.",
            url="/me/",
            data={"team": team.slug, "quota": quota, "used": used, "limit": limit, "percent": percent},
        ),
        user_ids=list(admins),
    )
