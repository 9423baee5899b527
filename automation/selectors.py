"""Reads for schedules and triggers, scoped to what the user may see."""
from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone

from accounts.access import WRITE_ROLES, asset_filter, automation_filter, role_in
from accounts.models import Team
from core.errors import NotFound
from registry.models import Asset

from .cron import cron_next
from .models import Schedule, ScheduleFiring, Trigger, TriggerDelivery


def _visible(model, user: AbstractBaseUser | AnonymousUser) -> QuerySet:
    return (
        model.objects.filter(automation_filter(user), asset__in=Asset.objects.filter(asset_filter(user)))
        .select_related("asset__namespace", "version", "namespace", "created_by")
    )


def run_namespace_default(*, user: AbstractBaseUser, asset: Asset) -> Team | None:
    """Where a new schedule's or trigger's runs go unless told: the workflow's namespace
    when the user may start runs there, else the user's personal one."""
    if role_in(user, asset.namespace) in WRITE_ROLES:
        return asset.namespace
    return Team.objects.filter(personal_of=user).first()


def schedule_list(*, user: AbstractBaseUser | AnonymousUser, asset: Asset | None = None) -> QuerySet[Schedule]:
    found = _visible(Schedule, user)
    return found.filter(asset=asset) if asset is not None else found


def schedule_get(*, user: AbstractBaseUser | AnonymousUser, schedule_id: int) -> Schedule:
    schedule = _visible(Schedule, user).filter(pk=schedule_id).first()
    if schedule is None:
        raise NotFound(f"Schedule {schedule_id} was not found.", field="schedule")
    return schedule


def schedule_firings(*, schedule: Schedule, limit: int = 20) -> list[ScheduleFiring]:
    return list(schedule.firings.select_related("run")[:limit])


def schedule_next_fire(*, schedule: Schedule, now: datetime | None = None) -> datetime | None:
    """When beat fires it next (in the schedule's time zone); None while paused."""
    if schedule.paused:
        return None
    return cron_next(schedule.cron, schedule.timezone, now or timezone.now())


def trigger_list(*, user: AbstractBaseUser | AnonymousUser, asset: Asset | None = None) -> QuerySet[Trigger]:
    found = _visible(Trigger, user)
    return found.filter(asset=asset) if asset is not None else found


def trigger_get(*, user: AbstractBaseUser | AnonymousUser, trigger_id: int) -> Trigger:
    trigger = _visible(Trigger, user).filter(pk=trigger_id).first()
    if trigger is None:
        raise NotFound(f"Trigger {trigger_id} was not found.", field="trigger")
    return trigger


def trigger_by_key(*, key: str) -> Trigger:
    """The trigger a webhook URL names; the caller proves it may use it with the secret."""
    trigger = Trigger.objects.select_related("created_by", "namespace", "version").filter(key=key).first()
    if trigger is None:
        raise NotFound("No trigger has this URL.", field="trigger")
    return trigger


def trigger_deliveries(*, trigger: Trigger, limit: int = 20) -> list[TriggerDelivery]:
    return list(trigger.deliveries.select_related("run")[:limit])


def is_scheduled_run(run_id: int) -> bool:
    return ScheduleFiring.objects.filter(run_id=run_id).exists()
