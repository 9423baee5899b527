"""Where the mlflow client's "View run" links land: ``/mlflow/#/experiments/<e>/runs/<r>``
goes to Flowdeck's run page, ``#/experiments/<e>`` to the experiment's runs table."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from ..errors import MlflowError
from ..experiments import experiment_get


@require_GET
def ui_redirect(request: HttpRequest) -> HttpResponse:
    return render(request, "mlflow_compat/ui_redirect.html", {
        "runs_url": reverse("runs:list"), "experiment_url": reverse("mlflow:ui") + "experiments/",
    })


@require_GET
@login_required
def ui_experiment(request: HttpRequest, experiment_id: str) -> HttpResponse:
    try:
        experiment = experiment_get(user=request.user, experiment_id=experiment_id)
    except MlflowError:
        return HttpResponseRedirect(reverse("runs:list"))
    # The runs table filters by the experiment's own name (MLflow shows a team's as team/name).
    return HttpResponseRedirect(f"{reverse('runs:list')}?{urlencode({'experiment': experiment.name})}")
