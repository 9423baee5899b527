"""HTML pages for runs: the list, one run (with a live-refreshing status fragment),
starting and stopping runs, artifact downloads and step logs."""
from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, reswap, retarget

from accounts.access import can_change_run
from accounts.selectors import namespace_get
from core.errors import Conflict, FlowdeckError, Forbidden
from core.views import domain_errors
from registry.dag import dag_svg
from registry.selectors import asset_get, version_get
from registry.views import workflow_page

from .api import artifact_response
from .forms import RunStartForm
from .log_selectors import LOG_READ_BYTES, step_log_read
from .models import STEP_FINAL, Run, RunStatus
from .metric_selectors import metric_series_sampled
from .selectors import run_get, step_get, step_rows
from .services.lifecycle import run_start, run_stop

log = logging.getLogger(__name__)


@require_POST
@domain_errors
def run_start_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("registry:workflow", kwargs={"namespace": namespace, "name": name}))
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    version = version_get(asset=asset, version=request.POST.get("version") or None)
    form = RunStartForm(version.spec.get("params") or [], data=request.POST)
    if form.is_valid():
        try:
            team = namespace_get(slug=request.POST.get("run_namespace"))
            run = run_start(user=request.user, version=version, params=form.param_values(), name=form.run_name(),
                            namespace=team)  # run_start checks the editor role there
        except FlowdeckError as exc:
            form.add_domain_error(exc)
        else:
            waiting = " It is waiting for quota." if run.status == RunStatus.WAITING else ""
            messages.success(request, f"Started run {run.pk} of {version} in {run.namespace.slug}.{waiting}")
            return redirect("runs:detail", run_id=run.pk)
    return workflow_page(request, asset=asset, version=version, run_form=form, status=400)


def _status_context(request: HttpRequest, run: Run) -> dict:
    rows = step_rows(run=run)
    spec_steps = run.asset_version.spec.get("steps", []) if run.asset_version_id else []
    return {
        "run": run,
        "steps": [r.step for r in rows],
        "step_rows": rows,
        "dag": dag_svg(spec_steps, statuses={r.step.name: r.step.status for r in rows}),
        "can_change": request.user.is_authenticated and can_change_run(request.user, run),
    }


@require_GET
@login_required
@domain_errors
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(user=request.user, run_id=run_id)
    series = metric_series_sampled(run=run)  # at most CHART_POINTS per key, even for millions
    context = {
        **_status_context(request, run),
        # As pairs: a parameter called "items" would shadow dict.items in a template.
        "params": sorted(run.params.items()),
        "logged_params": run.logged_params.all(),
        "tags": run.tags.all(),
        "summaries": run.metric_summaries.all(),
        "artifacts": run.artifacts.all(),
        "series": series,
    }
    return render(request, "runs/run_detail.html", context)


@require_GET
@login_required
@domain_errors
def run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """The header and steps fragment that the run page polls while the run is live."""
    run = run_get(user=request.user, run_id=run_id)
    if request.htmx and run.is_final and request.GET.get("live"):
        # The run just ended: reload once so metrics, artifacts and logs are final too.
        # The reloaded page does not poll, so this cannot loop.
        return HttpResponseClientRefresh()
    return render(request, "runs/_run_status.html", _status_context(request, run))


@require_POST
@login_required
@domain_errors
def run_stop_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(user=request.user, run_id=run_id)
    try:
        run_stop(user=request.user, run=run)
    except Conflict as exc:  # Forbidden goes on to domain_errors: a 403 page, as the API answers 403
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Stopping run {run.pk}.")
    return redirect("runs:detail", run_id=run.pk)


@require_GET
@login_required
@domain_errors
def artifact_download(request: HttpRequest, run_id: int, path: str) -> HttpResponse:
    run = run_get(user=request.user, run_id=run_id)
    return artifact_response(run, path)


@require_GET
@login_required
@domain_errors
def step_log_fragment(request: HttpRequest, run_id: int, step: str) -> HttpResponse:
    """A step's log; with ``offset``, the text after it, for the poller that grows a live log."""
    run = run_get(user=request.user, run_id=run_id)
    step_run = step_get(run=run, name=step)
    offset, attempt = _whole(request.GET.get("offset")), _whole(request.GET.get("attempt"))
    # Follow on from the poller's offset, unless the step moved on to another attempt (its
    # log starts over) or ended with much more than one read left (jump to the tail then).
    follow = offset is not None and attempt == step_run.attempt and not (
        step_run.status in STEP_FINAL and step_run.log_size - offset > LOG_READ_BYTES
    )
    waiting = bool(request.GET.get("waiting"))
    try:
        read = step_log_read(step=step_run, offset=offset if follow else 0)
        failed = False
    except Exception:
        # A log is a side view of the run; a storage hiccup must not break the page.
        log.exception("could not read the log of run %s step %s", run.pk, step)
        read = {"text": "", "next_offset": offset or 0, "complete": False, "attempt": step_run.attempt}
        failed = True
    context = {"step": step_run, "read": read, "failed": failed, "tail_kib": LOG_READ_BYTES // 1024,
               "waiting": waiting, "still_waiting": (waiting or not follow) and not read["text"], "retry": failed}
    if follow:
        return render(request, "runs/_step_log_more.html", context)
    response = render(request, "runs/_step_log.html", context)
    if offset is not None:  # a poller asked: replace the whole log view, not just the poller
        retarget(response, f"#step-log-{step_run.pk}")
        reswap(response, "outerHTML")
    return response


def _whole(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None
