"""Token pages: personal tokens (/me/tokens) and a team's service tokens (on the team page).
A new token's plaintext is shown once, in the answer to the form that made it."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import FlowdeckError, RateLimited
from core.views import domain_errors

from .forms import TokenForm
from .ratelimit import auth_throttle
from .request_context import client_ip
from .selectors import team_get, token_get, tokens_of
from .services import service_token_create, token_create, token_revoke
from .views_teams import team_context


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # the page may hold a token's plaintext
    return response


def _expiry(form: TokenForm):
    days = form.cleaned_data.get("expires_in_days")
    return timezone.now() + timedelta(days=days) if days else None


@require_http_methods(["GET", "POST"])
@login_required
@domain_errors
def tokens_page(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    context: dict = {"form": form}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                auth_throttle(ip=client_ip(request), username=request.user.get_username(), endpoint="tokens")
                token, plaintext = token_create(user=request.user, name=form.cleaned_data["name"],
                                                scopes=form.cleaned_data["scopes"], expires_at=_expiry(form))
            except RateLimited as exc:
                messages.error(request, exc.message)
                status = 429
            except FlowdeckError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                context.update(new_token=token, plaintext=plaintext, form=TokenForm())
        status = 400 if form.errors else status
    context["tokens"] = tokens_of(user=request.user)
    context["now"] = timezone.now()
    return _no_store(render(request, "accounts/tokens.html", context, status=status))


@require_POST
@login_required
@domain_errors
def team_token_create(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_get(user=request.user, slug=slug)
    form = TokenForm(request.POST, prefix="svc")
    extra: dict = {}
    if form.is_valid():
        try:
            token, plaintext = service_token_create(actor=request.user, team=team, name=form.cleaned_data["name"],
                                                    scopes=form.cleaned_data["scopes"], expires_at=_expiry(form))
        except FlowdeckError as exc:
            messages.error(request, exc.message)
            return redirect("team", slug=team.slug)
        extra = {"new_token": token, "plaintext": plaintext}
    else:
        extra = {"token_form": form}
    return _no_store(render(request, "accounts/team.html", team_context(request, team, **extra),
                            status=400 if form.errors else 200))


@require_POST
@login_required
@domain_errors
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = token_get(user=request.user, token_id=token_id)
    token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token '{token.name}' ({token.prefix}…) is revoked.")
    if token.team_id:
        return redirect("team", slug=token.team.slug)
    return redirect("tokens")
