"""HTML pages for the gallery: browsing, and subscribing to a workflow."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import FlowdeckError
from core.views import domain_errors
from registry.models import Asset
from registry.selectors import asset_get

from .forms import GalleryFilterForm
from .selectors import gallery_search
from .services import star_delete, star_set, subscription_delete, subscription_set

PAGE_SIZE = 24


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    filters = GalleryFilterForm(request.GET)
    criteria = filters.criteria()
    assets = gallery_search(user=request.user, **criteria)
    page = Paginator(assets, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "gallery/index.html", {"filters": filters, "criteria": criteria, "page": page})


def _workflow_url(namespace: str, name: str) -> str:
    return reverse("registry:workflow", kwargs={"namespace": namespace, "name": name})


def _workflow_action(action: Callable[[HttpRequest, Asset], None]) -> Callable[..., HttpResponse]:
    """A POST on a workflow page: sign-in required, the asset looked up through the scoped
    selector, then back to the workflow page. ``action`` does the one thing that differs."""

    @require_POST
    @domain_errors
    @wraps(action)
    def view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
        back = _workflow_url(namespace, name)
        if not request.user.is_authenticated:
            return redirect_to_login(back)
        action(request, asset_get(user=request.user, namespace=namespace, name=name))
        return redirect(back)

    return view


@_workflow_action
def subscribe(request: HttpRequest, asset: Asset) -> None:
    pin = (request.POST.get("pin") or "").strip() or None
    try:
        subscription_set(user=request.user, asset=asset, pin=pin)
    except FlowdeckError as exc:
        messages.error(request, exc.message)
    else:
        where = f"pinned to {pin}" if pin else "following the latest version"
        messages.success(request, f"Subscribed to {asset.full_name}, {where}.")


@_workflow_action
def unsubscribe(request: HttpRequest, asset: Asset) -> None:
    if subscription_delete(user=request.user, asset=asset):
        messages.success(request, f"Unsubscribed from {asset.full_name}.")
    else:
        messages.info(request, f"You were not subscribed to {asset.full_name}.")


@_workflow_action
def star(request: HttpRequest, asset: Asset) -> None:
    if request.POST.get("action") == "unstar":
        star_delete(user=request.user, asset=asset)
    else:
        star_set(user=request.user, asset=asset)
