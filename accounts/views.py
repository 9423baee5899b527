"""The signed-in user's own page: subscriptions and recent runs."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from gallery.models import Subscription
from gallery.selectors import subscriptions_of
from runs.selectors import runs_created_by

RECENT_RUNS = 20


def _update_available(subscription: Subscription) -> bool:
    # Only a pinned subscription can fall behind; following "latest" never does.
    pinned = subscription.pinned_version_id
    return pinned is not None and pinned != subscription.asset.latest_version_id


@require_GET
@login_required
def workspace(request: HttpRequest) -> HttpResponse:
    subscriptions = [
        {"subscription": s, "update_available": _update_available(s)}
        for s in subscriptions_of(user=request.user).order_by("asset__namespace__slug", "asset__name")
    ]
    context = {
        "subscriptions": subscriptions,
        "runs": runs_created_by(user=request.user, limit=RECENT_RUNS),
    }
    return render(request, "accounts/workspace.html", context)
