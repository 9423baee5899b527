"""HTML pages for one workflow: README, parameters, versions, DAG and the run form; the
diff between two versions; the owner's yank form."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.access import can_change_asset, writable_teams
from core.errors import FlowdeckError
from core.views import domain_errors
from gallery.selectors import star_count, star_for, subscription_for
from runs.forms import RunStartForm
from runs.selectors import runs_visible

from .dag import dag_svg
from .diff import diff_versions_pick, version_diff
from .models import Asset, AssetVersion
from .selectors import asset_get, assets_visible, version_get
from .services import version_unyank, version_yank


def _versions_with_previous(asset: Asset) -> list[AssetVersion]:
    # Newest first; each row links to "compare with previous", i.e. the next row down.
    versions = list(asset.versions.select_related("successor__asset__namespace"))
    for newer, older in zip(versions, versions[1:] + [None], strict=True):
        newer.previous = older
    return versions


def _forked_from(request: HttpRequest, version: AssetVersion) -> AssetVersion | None:
    # Shown only when the reader may see the origin; a private origin stays unnamed.
    origin = version.forked_from
    if origin is None or not assets_visible(user=request.user).filter(pk=origin.asset_id).exists():
        return None
    return origin


def workflow_page(
    request: HttpRequest,
    *,
    asset: Asset,
    version: AssetVersion,
    run_form: RunStartForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The workflow page; the run-start view re-renders it with a bound form on errors."""
    spec = version.spec
    context = {
        "asset": asset,
        "version": version,
        "is_latest": version.pk == asset.latest_version_id,
        "versions": _versions_with_previous(asset),
        "can_change": can_change_asset(request.user, asset),
        "params": spec.get("params") or [],
        "steps": spec.get("steps") or [],
        "dag": dag_svg(spec.get("steps") or []),
        "subscription": subscription_for(user=request.user, asset=asset),
        "n_subscribers": asset.subscriptions.count(),
        "n_stars": star_count(asset=asset),
        "starred": star_for(user=request.user, asset=asset),
        "forked_from": _forked_from(request, version),
        "fork_namespaces": writable_teams(request.user),
        # Beside the "Runs table" link: the runs this user may see, as the table lists them.
        "n_runs": runs_visible(user=request.user).filter(asset_version__asset=asset).count(),
        "run_form": run_form or RunStartForm(spec.get("params") or []),
    }
    return render(request, "registry/workflow_detail.html", context, status=status)


@require_GET
@domain_errors
def workflow_detail(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    version = version_get(asset=asset, version=request.GET.get("version") or None)
    return workflow_page(request, asset=asset, version=version)


@require_GET
@domain_errors
def version_diff_page(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    old, new = diff_versions_pick(
        asset=asset, from_version=request.GET.get("from") or None, to_version=request.GET.get("to") or None
    )
    context = {"asset": asset, "old": old, "new": new, "diff": version_diff(old=old, new=new),
               "versions": asset.versions.all()}
    return render(request, "registry/version_diff.html", context)


@require_POST
@domain_errors
def version_yank_view(request: HttpRequest, namespace: str, name: str, version: str) -> HttpResponse:
    back = reverse("registry:workflow", args=[namespace, name])
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    found = version_get(asset=asset, version=version)
    try:
        if request.POST.get("undo"):
            version_unyank(user=request.user, version=found)
            messages.success(request, f"{found} is no longer yanked.")
        else:
            version_yank(user=request.user, version=found, reason=request.POST.get("reason", ""))
            messages.success(request, f"{found} is yanked; new runs of it are refused.")
    except FlowdeckError as exc:
        if exc.status in (403, 404):
            raise
        messages.error(request, exc.message)
    return redirect(f"{back}?version={found.version}")
