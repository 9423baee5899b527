"""The workflow page's Fork form: copy the version shown into a namespace the user can write."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.errors import FlowdeckError
from core.views import domain_errors

from .selectors import asset_get
from .services import asset_fork


@require_POST
@domain_errors
def fork_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    back = reverse("registry:workflow", args=[namespace, name])
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    # A workflow the user cannot see is a 404 page, raised before the form's own errors.
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    version = (request.POST.get("version") or "").strip() or None
    try:
        forked = asset_fork(
            user=request.user,
            asset=asset,
            version=version,
            namespace=(request.POST.get("namespace") or "").strip() or None,
            name=(request.POST.get("name") or "").strip() or None,
        )
    except FlowdeckError as exc:
        # A taken name, a namespace the user may not write, a bad name: shown on the page.
        messages.error(request, exc.message)
        return redirect(f"{back}?{urlencode({'version': version})}" if version else back)
    messages.success(request, f"Forked {forked.forked_from} to {forked}.")
    return redirect("registry:workflow", namespace=forked.asset.namespace.slug, name=forked.asset.name)
