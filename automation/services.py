"""Writes for schedules and triggers: create, pause, resume, delete; firing a schedule,
retrying its failed runs; delivering a webhook. Runs start through ``runs`` services, as
the schedule's or trigger's owner, within that owner's permissions at the time."""
from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.access import can_manage_automation, require_write
from accounts.models import Team
from core.errors import FlowdeckError, Forbidden, InvalidInput, NotAuthenticated
from flowdeck.spec import SpecError, coerce_value
from registry.models import Asset, AssetVersion
from registry.selectors import assets_visible, version_get
from runs.models import Run, RunStatus
from runs.services.lifecycle import params_check, run_start
from runs.services.operations import run_retry

from . import signing
from .cron import cron_fields, zone
from .models import Schedule, ScheduleFiring, Trigger, TriggerDelivery
from .paths import mapping_apply, mapping_check
from .selectors import run_namespace_default

FIRE_TASK = "flowdeck.automation.schedule_fire"
MAX_RETRIES = 10
KEEP_HISTORY = 500  # firings per schedule and deliveries per trigger
ACTIVE = (RunStatus.WAITING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING)


def _require_manage(user: AbstractBaseUser, obj: Schedule | Trigger, what: str) -> None:
    if not can_manage_automation(user, obj):
        raise Forbidden(f"You need the editor or admin role in '{obj.namespace.slug}' to {what}.", field="namespace")


def _run_namespace(user: AbstractBaseUser, asset: Asset, namespace: Team | None) -> Team:
    """Where the runs go: ``namespace``, else the workflow's own when the user may start
    runs there, else the user's personal namespace."""
    namespace = namespace or run_namespace_default(user=user, asset=asset)
    if namespace is None:
        raise InvalidInput("Name the namespace the runs go to.", field="namespace")
    require_write(user, namespace, what="start runs")
    return namespace


def _owner_version(owner: AbstractBaseUser, asset_id: int, version: AssetVersion | None) -> AssetVersion:
    """The version to run now, as ``owner`` sees it: pinned, or the newest not yanked."""
    asset = assets_visible(user=owner).filter(pk=asset_id).first()
    if asset is None:
        raise Forbidden("The owner can no longer see this workflow.", field="asset")
    return version or version_get(asset=asset)


def _params_object(params: Any, field: str = "params") -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInput(f"{field} must be an object of name: value.", field=field)
    return params


# --- schedules ------------------------------------------------------------------------------
def _task_name(schedule_id: int) -> str:
    return f"flowdeck.schedule.{schedule_id}"


def schedule_create(
    *,
    user: AbstractBaseUser,
    asset: Asset,
    cron: str,
    version: AssetVersion | None = None,
    tz: str = "UTC",
    params: dict | None = None,
    name: str = "",
    skip_if_running: bool = True,
    max_retries: int = 0,
    namespace: Team | None = None,
) -> Schedule:
    """A schedule of ``asset`` (``version``, or the latest at each firing when None) and the
    beat entry that fires it. The caller has checked that ``user`` may see ``asset``."""
    team = _run_namespace(user, asset, namespace)
    fields = cron_fields(cron)
    zone(tz)
    if not isinstance(max_retries, int) or not 0 <= max_retries <= MAX_RETRIES:
        raise InvalidInput(f"max_retries must be between 0 and {MAX_RETRIES}.", field="max_retries")
    target = version or version_get(asset=asset)
    params = _fixed_params_check(target, _params_object(params))  # stored as typed values
    params_check(target, params)  # and the whole set as run_start checks it (required ones)
    with transaction.atomic():
        schedule = Schedule.objects.create(
            asset=asset, version=version, namespace=team, created_by=user, name=(name or "")[:200],
            cron=" ".join(fields.values()), timezone=tz or "UTC", params=params,
            skip_if_running=skip_if_running, max_retries=max_retries,
        )
        crontab, _ = CrontabSchedule.objects.get_or_create(**fields, timezone=schedule.timezone)
        # save() (not update()) bumps django-celery-beat's change marker, so a running beat
        # reloads its schedule within seconds.
        schedule.periodic_task = PeriodicTask.objects.create(
            name=_task_name(schedule.pk), task=FIRE_TASK, crontab=crontab,
            kwargs=json.dumps({"schedule_id": schedule.pk}), enabled=True,
            description=f"{asset.full_name}: {schedule}",
        )
        schedule.save(update_fields=["periodic_task"])
    return schedule


def _set_paused(user: AbstractBaseUser, schedule: Schedule, paused: bool) -> Schedule:
    _require_manage(user, schedule, "pause or resume this schedule")
    with transaction.atomic():
        schedule.paused = paused
        schedule.save(update_fields=["paused"])
        task = schedule.periodic_task
        if task is not None and task.enabled == paused:
            task.enabled = not paused
            task.save()
    return schedule


def schedule_pause(*, user: AbstractBaseUser, schedule: Schedule) -> Schedule:
    """Stop firing (beat drops the entry); firings and their runs are kept."""
    return _set_paused(user, schedule, True)


def schedule_resume(*, user: AbstractBaseUser, schedule: Schedule) -> Schedule:
    return _set_paused(user, schedule, False)


def schedule_delete(*, user: AbstractBaseUser, schedule: Schedule) -> None:
    """Delete the schedule, its beat entry and its firing history (the runs stay)."""
    _require_manage(user, schedule, "delete this schedule")
    with transaction.atomic():
        task = schedule.periodic_task
        schedule.delete()
        if task is not None:
            task.delete()


def _prune(queryset, keep: int) -> None:
    old = list(queryset.values_list("pk", flat=True)[keep:keep + 1000])
    if old:
        queryset.model.objects.filter(pk__in=old).delete()


def schedule_fire(*, schedule_id: int, message_id: str | None = None) -> ScheduleFiring | None:
    """Fire a schedule once: start its run, or record why none started (the previous run
    still going, with ``skip_if_running``; a run that could not start). None when the
    schedule is gone or paused. A message delivered again (same ``message_id``) fires once."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            # Gone with its workflow, namespace or owner (a cascade, not schedule_delete):
            # drop the beat entry that still names it.
            PeriodicTask.objects.filter(name=_task_name(schedule_id)).delete()
            return None
        if schedule.paused:
            return None
        if message_id:
            seen = ScheduleFiring.objects.filter(message_id=message_id).first()
            if seen is not None:
                return seen
        firing = ScheduleFiring(schedule=schedule, fired_at=timezone.now(), message_id=message_id or None)
        running = schedule.firings.filter(run__status__in=ACTIVE).select_related("run").first() \
            if schedule.skip_if_running else None
        if running is not None:
            firing.outcome = ScheduleFiring.Outcome.SKIPPED
            firing.reason = f"Run {running.run_id} from the previous firing is still {running.run.status}."
        else:
            try:
                with transaction.atomic():  # a refused start leaves nothing behind
                    firing.run = run_start(
                        user=schedule.created_by,
                        version=_owner_version(schedule.created_by, schedule.asset_id, schedule.version),
                        params=schedule.params,
                        name=f"{schedule} {firing.fired_at:%Y-%m-%d %H:%M}",
                        namespace=schedule.namespace,
                    )
                firing.outcome = ScheduleFiring.Outcome.STARTED
            except FlowdeckError as exc:
                firing.outcome = ScheduleFiring.Outcome.FAILED
                firing.reason = exc.message[:4000]
        firing.save()
        _prune(schedule.firings.all(), KEEP_HISTORY)
    return firing


def schedule_run_finished(*, run_id: int) -> bool:
    """When a scheduled run has failed and its schedule allows another attempt, retry it
    (``run_retry``: failed steps again, succeeded ones reused). Returns True if retried."""
    with transaction.atomic():
        firing = ScheduleFiring.objects.select_for_update(of=("self",)).select_related("schedule", "run") \
            .filter(run_id=run_id).first()
        if firing is None or firing.run.status != RunStatus.FAILED or firing.retries >= firing.schedule.max_retries:
            return False
        try:
            with transaction.atomic():
                run_retry(user=firing.schedule.created_by, run=firing.run)
        except FlowdeckError as exc:  # the owner lost the right to, or someone retried it first
            firing.reason = f"Retry {firing.retries + 1} refused: {exc.message}"[:4000]
            firing.save(update_fields=["reason"])
            return False
        firing.retries += 1
        firing.reason = f"Retried {firing.retries} of {firing.schedule.max_retries} times after failures."
        firing.save(update_fields=["retries", "reason"])
    return True


# --- triggers -------------------------------------------------------------------------------
def _fixed_params_check(version: AssetVersion, params: dict) -> dict:
    """The values given, each checked and coerced to its parameter's type (a trigger's
    required parameters may come from the mapping, so missing ones are not an error)."""
    defs = {p["name"]: p for p in version.spec.get("params") or []}
    coerced = {}
    for name, value in params.items():
        if name not in defs:
            known = ", ".join(sorted(defs)) or "none"
            raise InvalidInput(f"Unknown parameter '{name}' (this workflow takes: {known}).", field=f"params.{name}")
        try:
            coerced[name] = coerce_value(defs[name], value)
        except SpecError as exc:
            raise InvalidInput(exc.message, field=exc.field or f"params.{name}") from None
    return coerced


def trigger_create(
    *,
    user: AbstractBaseUser,
    asset: Asset,
    version: AssetVersion | None = None,
    params: dict | None = None,
    mapping: dict | None = None,
    name: str = "",
    namespace: Team | None = None,
) -> tuple[Trigger, str]:
    """A trigger and its secret, which is returned here once and never again."""
    team = _run_namespace(user, asset, namespace)
    target = version or version_get(asset=asset)
    params = _fixed_params_check(target, _params_object(params))
    mapping = mapping_check(mapping, {p["name"] for p in target.spec.get("params") or []})
    salt = signing.new_salt()
    secret = signing.secret_for(salt)
    trigger = Trigger.objects.create(
        asset=asset, version=version, namespace=team, created_by=user, name=(name or "")[:200],
        key=signing.new_key(), secret_salt=salt, secret_hash=signing.secret_hash(secret),
        secret_prefix=secret[:10], params=params, mapping=mapping,
    )
    return trigger, secret


def trigger_delete(*, user: AbstractBaseUser, trigger: Trigger) -> None:
    _require_manage(user, trigger, "delete this trigger")
    trigger.delete()


def _authenticate(trigger: Trigger, body: bytes, secret: str | None, signature: str | None) -> str:
    if signature:
        if signing.check_signature(signature, trigger.secret_salt, body):
            return "signature"
        raise Forbidden(f"The {signing.SIGNATURE_HEADER} header does not match the body.", field=signing.SIGNATURE_HEADER)
    if secret:
        if signing.check_secret(secret, trigger.secret_hash):
            return "secret"
        raise Forbidden(f"The {signing.SECRET_HEADER} header is not this trigger's secret.", field=signing.SECRET_HEADER)
    raise NotAuthenticated(
        f"Send the trigger's secret in {signing.SECRET_HEADER}, or sign the body: "
        f"{signing.SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>.")


def _start_from_payload(trigger: Trigger, body: bytes) -> Run:
    try:
        document = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput("The body is not JSON.", field="body") from None
    params = {**trigger.params, **mapping_apply(trigger.mapping, document)}
    owner = trigger.created_by
    return run_start(
        user=owner,
        version=_owner_version(owner, trigger.asset_id, trigger.version),
        params=params,
        name=f"{trigger} {timezone.now():%Y-%m-%d %H:%M:%S}",
        namespace=trigger.namespace,
    )


def trigger_deliver(*, trigger: Trigger, body: bytes, secret: str | None, signature: str | None) -> TriggerDelivery:
    """Check the caller's secret or signature, map the JSON ``body`` onto parameters and
    start a run as the trigger's owner. Every delivery is recorded, refused ones too;
    a refusal is raised (401/403 for the secret, 400 naming the field for the payload)
    after it is recorded."""
    delivery = TriggerDelivery(trigger=trigger, status=201)
    try:
        delivery.auth = _authenticate(trigger, body, secret, signature)
        with transaction.atomic():
            delivery.run = _start_from_payload(trigger, body)
    except FlowdeckError as exc:
        delivery.status, delivery.error = exc.status, exc.message[:4000]
        raise
    except Exception:
        delivery.status, delivery.error = 500, "Internal server error."
        raise
    finally:
        delivery.save()
        _prune(trigger.deliveries.all(), KEEP_HISTORY)
    return delivery
