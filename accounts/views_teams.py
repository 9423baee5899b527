"""Team pages: the list, one team (members, usage, quotas, service tokens) and its audit log."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import FlowdeckError
from core.views import domain_errors

from .access import can_manage_quota, can_manage_team, can_read_audit
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


def _done(request: HttpRequest, team: Team, action) -> HttpResponse:
    """Run ``action``; a domain error becomes a message on the team page, not an error page."""
    try:
        note = action()
    except FlowdeckError as exc:
        messages.error(request, exc.message)
    else:
        if note:
            messages.success(request, note)
    return redirect("team", slug=team.slug)


@require_POST
@login_required
@domain_errors
def team_member_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username and a role.")
        return redirect("team", slug=team.slug)
    data = form.cleaned_data
    return _done(request, team, lambda: membership_set(team=team, user=data["username"], role=data["role"],
                                                       actor=request.user) and
                 f"{data['username']} is now {data['role']} of '{team.slug}'.")


@require_POST
@login_required
@domain_errors
def team_member_change(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    if request.POST.get("action") == "remove":
        def action():
            membership_remove(team=team, user=username, actor=request.user)
            return f"{username} was removed from '{team.slug}'."
    else:
        role = request.POST.get("role", "")

        def action():
            membership_set(team=team, user=username, role=role, actor=request.user)
            return f"{username} is now {role} of '{team.slug}'."
    response = _done(request, team, action)
    if request.user.get_username() == username and request.POST.get("action") == "remove":
        return redirect("teams")  # left the team: its page is no longer theirs to see
    return response


@require_POST
@login_required
@domain_errors
def team_quota(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    form = QuotaForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Quotas are whole numbers of at least 0 (0: no limit; empty: the site default).")
        return redirect("team", slug=team.slug)
    return _done(request, team, lambda: quota_set(actor=request.user, team=team, **form.cleaned_data)
                 and "Quotas saved.")


@require_POST
@login_required
@domain_errors
def team_settings(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    form = TeamSettingsForm(request.POST)
    form.is_valid()
    return _done(request, team, lambda: team_update(actor=request.user, team=team, **form.cleaned_data)
                 and "Settings saved.")


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
