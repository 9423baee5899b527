"""The run page's Retry and Copy: each opens the parameter form prefilled with the run's values.
Copy can also run only chosen steps, reusing the others' outputs from this run (a partial run).

Retry edits the run's parameters and gives a new attempt to the steps that did not succeed
and to those that read a changed parameter (``run_retry``); Copy starts a new run of the same
version (``run_copy``). Blank fields keep the run's value.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import can_change_run
from core.errors import FlowdeckError, Forbidden, InvalidInput
from core.views import domain_errors

from .forms import RunStartForm
from .models import Run
from .selectors import run_get
from .services.operations import run_copy, run_retry
from .services.partial import run_start_partial


def form_initial(param_defs: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    """Initial form values showing ``values`` (a run's parameters) in each parameter's widget."""
    initial: dict[str, Any] = {}
    for pdef in param_defs:
        if pdef["name"] not in values:
            continue
        value = values[pdef["name"]]
        if pdef["type"] in ("json", "list"):
            value = json.dumps(value, ensure_ascii=False)
        elif pdef["type"] == "enum" and value is not None:
            value = str(value)
        initial[pdef["name"]] = value
    return initial


def _operation(request: HttpRequest, run_id: int, *, action: str) -> HttpResponse:
    run = run_get(user=request.user, run_id=run_id)
    if run.asset_version_id is None:
        raise InvalidInput(f"Run {run.pk} was tracked, not orchestrated; it has no parameter form.", field="run")
    if action == "retry" and not can_change_run(request.user, run):
        raise Forbidden(f"You may not retry run {run.pk}.")
    param_defs = run.asset_version.spec.get("params") or []
    if request.method == "POST":
        form = RunStartForm(param_defs, data=request.POST)
        if form.is_valid():
            try:
                done = _submit(request, run, form, action)
            except FlowdeckError as exc:
                if exc.status == 404:
                    raise
                form.add_domain_error(exc)
            else:
                return redirect("runs:detail", run_id=done.pk)
        status = 400
    else:
        form = RunStartForm(param_defs, initial=form_initial(param_defs, run.params or {}))
        status = 200
    if action == "retry":
        form.fields.pop("run-name")  # a retry keeps its run, and so its name
    chosen = set(request.POST.getlist("steps")) if request.method == "POST" else set()
    steps = [{"name": s.name, "status": s.status, "checked": s.name in chosen} for s in run.steps.order_by("position")]
    context = {"run": run, "form": form, "action": action, "steps": steps}
    return render(request, "runs/run_operation.html", context, status=status)


def _submit(request: HttpRequest, run: Run, form: RunStartForm, action: str) -> Run:
    if action == "retry":
        done = run_retry(user=request.user, run=run, params=form.param_values() or None)
        messages.success(request, f"Retrying run {run.pk}.")
        return done
    chosen = request.POST.getlist("steps")
    if chosen:  # a partial run: only these steps, the rest reused from this run
        done = run_start_partial(user=request.user, version=run.asset_version, steps=chosen, source_run=run,
                                 params=form.param_values(), name=form.run_name(), namespace=run.namespace)
        messages.success(request, f"Started run {done.pk}: {', '.join(chosen)}, the rest reused from run {run.pk}.")
        return done
    done = run_copy(user=request.user, run=run, params=form.param_values(), name=form.run_name())
    messages.success(request, f"Started run {done.pk}, a copy of run {run.pk}.")
    return done


@require_http_methods(["GET", "POST"])
@login_required
@domain_errors
def run_retry_page(request: HttpRequest, run_id: int) -> HttpResponse:
    return _operation(request, run_id, action="retry")


@require_http_methods(["GET", "POST"])
@login_required
@domain_errors
def run_copy_page(request: HttpRequest, run_id: int) -> HttpResponse:
    return _operation(request, run_id, action="copy")
