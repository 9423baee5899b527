"""The workflow's schedules and triggers page, and its forms and buttons. Every action
calls the same services as the API."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import can_manage_automation, writable_teams
from accounts.models import Team
from core.errors import FlowdeckError
from core.views import domain_errors
from registry.models import Asset
from registry.selectors import asset_get, version_get

from . import signing
from .forms import LATEST, ScheduleForm, TriggerForm
from .selectors import (
    run_namespace_default,
    schedule_firings,
    schedule_get,
    schedule_list,
    schedule_next_fire,
    trigger_deliveries,
    trigger_get,
    trigger_list,
)
from .services import schedule_create, schedule_delete, schedule_pause, schedule_resume, trigger_create, trigger_delete

HISTORY = 10
NEW_SECRET = "automation.new_trigger_secret"
DONE = {"pause": "paused", "resume": "resumed", "delete": "deleted"}


def _form_kwargs(request: HttpRequest, asset: Asset) -> dict:
    teams = [t.slug for t in writable_teams(request.user)]
    default = run_namespace_default(user=request.user, asset=asset)
    return {"versions": list(asset.versions.values_list("version", flat=True)), "namespaces": teams,
            "default_namespace": default.slug if default else ""}


def _page(request: HttpRequest, asset: Asset, *, schedule_form=None, trigger_form=None, created=None,
          status: int = 200) -> HttpResponse:
    schedules = list(schedule_list(user=request.user, asset=asset))
    for s in schedules:
        s.next_fire = schedule_next_fire(schedule=s)
        s.recent = schedule_firings(schedule=s, limit=HISTORY)
        s.can_manage = can_manage_automation(request.user, s)
    triggers = list(trigger_list(user=request.user, asset=asset))
    for t in triggers:
        t.url = request.build_absolute_uri(reverse("api:hook", kwargs={"key": t.key}))
        t.recent = trigger_deliveries(trigger=t, limit=HISTORY)
        t.can_manage = can_manage_automation(request.user, t)
    kwargs = _form_kwargs(request, asset)
    context = {
        "asset": asset,
        "schedules": schedules,
        "triggers": triggers,
        "can_create": bool(kwargs["namespaces"]),
        "schedule_form": schedule_form or ScheduleForm(**kwargs),
        "trigger_form": trigger_form or TriggerForm(**kwargs),
        "created": created,
        "secret_header": signing.SECRET_HEADER,
        "signature_header": signing.SIGNATURE_HEADER,
    }
    return render(request, "automation/workflow_automation.html", context, status=status)


@require_GET
@login_required
@domain_errors
def automation_page(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    created = None
    new = request.session.pop(NEW_SECRET, None)
    if new:
        trigger = trigger_list(user=request.user, asset=asset).filter(pk=new["trigger"]).first()
        if trigger is not None:
            url = request.build_absolute_uri(reverse("api:hook", kwargs={"key": trigger.key}))
            created = {"trigger": trigger, "secret": new["secret"], "url": url}
    response = _page(request, asset, created=created)
    if created:
        response["Cache-Control"] = "no-store"  # the secret must not stay in a cache
    return response


def _target(asset: Asset, data: dict):
    version = None if data["version"] == LATEST else version_get(asset=asset, version=data["version"])
    return version, Team.objects.get(slug=data["namespace"])


@require_POST
@login_required
@domain_errors
def schedule_create_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    form = ScheduleForm(request.POST, **_form_kwargs(request, asset))
    if form.is_valid():
        data = form.cleaned_data
        try:
            version, team = _target(asset, data)
            schedule = schedule_create(
                user=request.user, asset=asset, version=version, namespace=team, cron=data["cron"],
                tz=data["timezone"], params=data["params"], name=data["name"],
                skip_if_running=data["skip_if_running"], max_retries=data["max_retries"],
            )
        except FlowdeckError as exc:
            form.add_domain_error(exc)
        else:
            messages.success(request, f"Scheduled {asset.full_name} at '{schedule.cron}' ({schedule.timezone}).")
            return redirect("automation:page", namespace=namespace, name=name)
    return _page(request, asset, schedule_form=form, status=400)


@require_POST
@login_required
@domain_errors
def schedule_action_view(request: HttpRequest, schedule_id: int, action: str) -> HttpResponse:
    schedule = schedule_get(user=request.user, schedule_id=schedule_id)
    service = {"pause": schedule_pause, "resume": schedule_resume, "delete": schedule_delete}[action]
    service(user=request.user, schedule=schedule)
    messages.success(request, f"Schedule {schedule_id} {DONE[action]}.")
    return redirect("automation:page", namespace=schedule.asset.namespace.slug, name=schedule.asset.name)


@require_POST
@login_required
@domain_errors
def trigger_create_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    form = TriggerForm(request.POST, **_form_kwargs(request, asset))
    if form.is_valid():
        data = form.cleaned_data
        try:
            version, team = _target(asset, data)
            trigger, secret = trigger_create(user=request.user, asset=asset, version=version, namespace=team,
                                             params=data["params"], mapping=data["mapping"], name=data["name"])
        except FlowdeckError as exc:
            form.add_domain_error(exc)
        else:
            # Post/redirect/get, so a reload cannot make a second trigger. The secret waits
            # in the server-side session (not a cookie, as messages might) for the one page
            # that pops it, right after this redirect.
            request.session[NEW_SECRET] = {"trigger": trigger.pk, "secret": secret}
            return redirect("automation:page", namespace=namespace, name=name)
    return _page(request, asset, trigger_form=form, status=400)


@require_POST
@login_required
@domain_errors
def trigger_delete_view(request: HttpRequest, trigger_id: int) -> HttpResponse:
    trigger = trigger_get(user=request.user, trigger_id=trigger_id)
    trigger_delete(user=request.user, trigger=trigger)
    messages.success(request, f"Deleted trigger {trigger_id}; its URL no longer works.")
    return redirect("automation:page", namespace=trigger.asset.namespace.slug, name=trigger.asset.name)
