"""HTML pages for one workflow: README, parameters, versions, DAG and the run form."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.views import domain_errors
from gallery.selectors import subscription_for
from runs.forms import RunStartForm

from .dag import dag_svg
from .models import Asset, AssetVersion
from .selectors import asset_get, version_get


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
        "versions": asset.versions.all(),
        "params": spec.get("params") or [],
        "steps": spec.get("steps") or [],
        "dag": dag_svg(spec.get("steps") or []),
        "subscription": subscription_for(user=request.user, asset=asset),
        "n_subscribers": asset.subscriptions.count(),
        "run_form": run_form or RunStartForm(spec.get("params") or []),
    }
    return render(request, "registry/workflow_detail.html", context, status=status)


@require_GET
@domain_errors
def workflow_detail(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    version = version_get(asset=asset, version=request.GET.get("version") or None)
    return workflow_page(request, asset=asset, version=version)
