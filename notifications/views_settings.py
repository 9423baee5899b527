"""The notification settings page: the default preference, one per followed workflow, and
webhook endpoints with their delivery log. Every form posts back here and calls the same
services as the API."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import FlowdeckError
from core.views import domain_errors
from gallery.selectors import subscriptions_of
from registry.selectors import asset_get

from .models import Channel, Event
from .services.preferences import preference_clear, preference_effective, preference_set
from .services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_deliveries,
    webhook_get,
    webhook_list,
    webhook_ping,
)

NEW_SECRET = "notifications.new_webhook_secret"


def _created(request: HttpRequest) -> dict:
    shown = request.session.pop(NEW_SECRET, None)
    if not shown:
        return {}
    endpoint = webhook_list(user=request.user).filter(pk=shown["endpoint"]).first()
    return {"created": {"endpoint": endpoint, "secret": shown["secret"]}} if endpoint else {}


def _chosen(request: HttpRequest) -> dict:
    return {"events": request.POST.getlist("events"), "channels": request.POST.getlist("channels")}


def _post(request: HttpRequest) -> None:
    """Carry out one form (the page then redirects to itself)."""
    action = request.POST.get("action", "")
    if action == "default":
        preference_set(user=request.user, **_chosen(request))
        messages.success(request, "Default notification preference saved.")
    elif action in ("workflow", "workflow-clear"):
        namespace, _, name = request.POST.get("workflow", "").partition("/")
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        if action == "workflow":
            preference_set(user=request.user, asset=asset, **_chosen(request))
            messages.success(request, f"Preference for {asset.full_name} saved.")
        else:
            preference_clear(user=request.user, asset=asset)
            messages.success(request, f"{asset.full_name} now follows your default.")
    elif action == "default-clear":
        preference_clear(user=request.user)
        messages.success(request, "Default reset to the built-in one.")
    elif action == "webhook-create":
        endpoint, secret = webhook_create(user=request.user, name=request.POST.get("name", ""),
                                          url=request.POST.get("url", ""))
        # Post/redirect/get, so a reload makes no second endpoint; the secret waits in the
        # server-side session (not a cookie, as messages might) for the page that pops it.
        request.session[NEW_SECRET] = {"endpoint": endpoint.pk, "secret": secret}
    elif action == "webhook-delete":
        webhook_delete(user=request.user, endpoint_id=int(request.POST.get("webhook") or 0))
        messages.success(request, "Webhook deleted.")


def _row(user, asset=None) -> dict:
    chosen = preference_effective(user=user, asset=asset)
    return {"asset": asset, "events": set(chosen.events), "channels": set(chosen.channels), "source": chosen.source}


@require_http_methods(["GET", "POST"])
@login_required
def notification_settings_page(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        try:
            _post(request)
        except FlowdeckError as exc:  # shown on the page again, with the status that says why
            messages.error(request, exc.message)
            status = exc.status if exc.status in (403, 404) else 400
        else:
            return redirect("notification-settings")
    followed = [s.asset for s in subscriptions_of(user=request.user)]
    context = {
        "events": Event.choices,
        "channels": Channel.choices,
        "default": _row(request.user),
        "workflows": [_row(request.user, asset) for asset in followed],
        "webhooks": webhook_list(user=request.user),
        **_created(request),
    }
    return render(request, "notifications/settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
@domain_errors
def webhook_page(request: HttpRequest, webhook_id: int) -> HttpResponse:
    """An endpoint's delivery log; POST sends it a test delivery."""
    endpoint = webhook_get(user=request.user, endpoint_id=webhook_id)  # NotFound -> 404 page
    if request.method == "POST":
        webhook_ping(endpoint=endpoint)
        messages.success(request, "Test delivery queued; reload to see its attempts.")
        return redirect("notification-webhook", webhook_id=endpoint.pk)
    return render(request, "notifications/webhook.html",
                  {"endpoint": endpoint, "deliveries": webhook_deliveries(endpoint=endpoint)})
