"""Team pages: the list, one team (members, usage, quotas, service tokens) and its audit log."""
from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import FlowdeckError, InvalidInput
from core.views import domain_errors

from .access import can_manage_quota, can_manage_team, can_read_audit, team_filter
from .api_audit import FILTERS
from .forms import MemberForm, QuotaForm, TeamForm, TeamSettingsForm, TokenForm
from .models import Team
from .selectors import (
    EXPORT_FORMATS,
    audit_export,
    audit_list,
    my_role,
    service_tokens_of,
    team_get,
    team_list,
    team_members,
)
from .services import membership_remove, membership_set, quota_set, team_create, team_update
from .services.audit import ALL_ACTIONS
from .services.quotas import human_bytes, quota_limits, team_usage

AUDIT_PAGE = 50
LIVE_RUNS = 20


def team_live_runs(*, user, team: Team) -> list:
    """The team's runs still going or waiting for quota, oldest first (what holds the slots)."""
    from runs.models import RunStatus
    from runs.selectors import runs_visible

    going = [RunStatus.WAITING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING]
    return list(runs_visible(user=user).filter(namespace=team, status__in=going, parent_step__isnull=True)
                .order_by("created_at", "pk")[:LIVE_RUNS])


@require_http_methods(["GET", "POST"])
@login_required
@domain_errors
def teams_page(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(owner=request.user, **form.cleaned_data)
        except FlowdeckError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Team '{team.slug}' created; you are its admin.")
            return redirect("team", slug=team.slug)
    teams = [{"team": t, "role": my_role(user=request.user, team=t)} for t in team_list(user=request.user)]
    return render(request, "accounts/teams.html", {"teams": teams, "form": form}, status=400 if form.errors else 200)


def _quota_form(team: Team) -> QuotaForm:
    form = QuotaForm(initial={f: getattr(team, f) for f in QuotaForm.base_fields})
    for name, field in form.fields.items():  # an empty field means the site default: say what it is
        default = getattr(settings, f"FLOWDECK_QUOTA_{name.upper()}")
        field.widget.attrs["placeholder"] = f"site default: {default or 'no limit'}"
    return form


def team_context(request: HttpRequest, team: Team, **extra) -> dict:
    admin = can_manage_team(request.user, team)
    usage, limits = team_usage(team=team), quota_limits(team)
    context = {
        "team": team,
        "role": my_role(user=request.user, team=team),
        "is_admin": admin,
        "can_quota": can_manage_quota(request.user, team),
        "can_audit": can_read_audit(request.user, team),
        "members": team_members(team=team),
        "usage": usage,
        "limits": limits,
        "storage_used": human_bytes(usage.storage_bytes),
        "storage_limit": human_bytes(limits.max_storage_bytes) if limits.max_storage_bytes else "",
        "member_form": MemberForm(),
        "quota_form": _quota_form(team),
        "settings_form": TeamSettingsForm(initial={"display_name": team.display_name, "description": team.description}),
        "token_form": TokenForm(prefix="svc"),
        "now": timezone.now(),
        "live_runs": team_live_runs(user=request.user, team=team),
        "service_tokens": service_tokens_of(user=request.user, team=team) if admin and not team.is_personal else [],
    }
    context.update(extra)
    return context


@require_GET
@login_required
@domain_errors
def team_page(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    return render(request, "accounts/team.html", team_context(request, team))


def team_post(view: Callable[..., str]) -> Callable[..., HttpResponse]:
    """A POST from one of the team page's forms: signed in, the team resolved (404 when the
    user may not see it), and back to the team page with the view's note, or with the
    domain error's message instead of an error page (to the team list if the user has just
    left the team)."""

    @require_POST
    @login_required
    @domain_errors
    @functools.wraps(view)
    def wrapper(request: HttpRequest, slug: str, **kwargs) -> HttpResponse:
        team = team_get(user=request.user, slug=slug)
        try:
            messages.success(request, view(request, team, **kwargs))
        except FlowdeckError as exc:
            messages.error(request, exc.message)
        if not Team.objects.filter(team_filter(request.user), pk=team.pk).exists():
            return redirect("teams")
        return redirect("team", slug=team.slug)

    return wrapper


def _valid(form, message: str):
    if not form.is_valid():
        raise InvalidInput(message)
    return form.cleaned_data


@team_post
def team_member_add(request: HttpRequest, team: Team) -> str:
    data = _valid(MemberForm(request.POST), "Give a username and a role.")
    membership_set(team=team, user=data["username"], role=data["role"], actor=request.user)
    return f"{data['username']} is now {data['role']} of '{team.slug}'."


@team_post
def team_member_change(request: HttpRequest, team: Team, username: str) -> str:
    if request.POST.get("action") == "remove":
        membership_remove(team=team, user=username, actor=request.user)
        return f"{username} was removed from '{team.slug}'."
    role = request.POST.get("role", "")
    membership_set(team=team, user=username, role=role, actor=request.user)
    return f"{username} is now {role} of '{team.slug}'."


@team_post
def team_quota(request: HttpRequest, team: Team) -> str:
    data = _valid(QuotaForm(request.POST), "Quotas are whole numbers of at least 0 (0: no limit; empty: the site default).")
    quota_set(actor=request.user, team=team, **data)
    return "Quotas saved."


@team_post
def team_settings(request: HttpRequest, team: Team) -> str:
    data = _valid(TeamSettingsForm(request.POST), "The display name is at most 128 characters.")
    team_update(actor=request.user, team=team, **data)
    return "Settings saved."


@require_GET
@login_required
@domain_errors
def team_audit(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    filters = {k: request.GET.get(k, "").strip() for k in FILTERS}
    entries = audit_list(user=request.user, team=team, **filters)
    fmt = request.GET.get("format")
    if fmt:
        blocks = audit_export(entries, fmt)
        first = next(blocks, "")
        response = StreamingHttpResponse(iter([first, *blocks]) if first else blocks, content_type=EXPORT_FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="audit-{team.slug}.{fmt}"'
        return response
    page = Paginator(entries, AUDIT_PAGE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(request, "accounts/audit.html", {
        "team": team, "page": page, "filters": filters, "actions": ALL_ACTIONS, "query": query,
    })
