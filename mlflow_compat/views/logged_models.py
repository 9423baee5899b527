"""MLflow 3's logged-models endpoints: create, get, finalize, delete, search, tags, params,
and the tracking API's artifacts/list for a run."""
from __future__ import annotations

from ..errors import invalid
from ..experiments import experiment_get
from ..http import Request, endpoint, max_results, page_token_make, page_token_read
from ..logged_models import (
    logged_model_create,
    logged_model_delete,
    logged_model_finalize,
    logged_model_json,
    logged_model_read,
    logged_model_update,
    logged_models_search,
)
from ..run_service import run_read


@endpoint("POST")
def create(request: Request) -> dict:
    p = request.params
    experiment = experiment_get(user=request.user, experiment_id=p.str("experiment_id", required=True))
    run = run_read(caller=request.caller, run_id=p.str("source_run_id")) if p.str("source_run_id") else None
    if run is not None and run.experiment_id != experiment.pk:
        raise invalid(f"Run {run.pk} is not in experiment {p.str('experiment_id')}.")
    model = logged_model_create(caller=request.caller, experiment=experiment, name=p.str("name"),
                                model_type=p.str("model_type"), source_run=run, params=p.list("params"),
                                tags=p.list("tags"))
    return {"model": logged_model_json(model, request.caller)}


@endpoint("GET", "PATCH", "DELETE")
def detail(request: Request, model_id: str) -> dict:
    model = logged_model_read(caller=request.caller, model_id=model_id)
    if request.http.method == "PATCH":
        model = logged_model_finalize(caller=request.caller, model=model, status=request.params.raw("status"))
    elif request.http.method == "DELETE":
        logged_model_delete(caller=request.caller, model=model)
        return {}
    return {"model": logged_model_json(model, request.caller)}


@endpoint("PATCH")
def tags(request: Request, model_id: str) -> dict:
    model = logged_model_read(caller=request.caller, model_id=model_id)
    logged_model_update(caller=request.caller, model=model, tags=request.params.list("tags"))
    return {}


@endpoint("DELETE")
def tag_delete(request: Request, model_id: str, tag_key: str) -> dict:
    model = logged_model_read(caller=request.caller, model_id=model_id)
    logged_model_update(caller=request.caller, model=model, delete_tag=tag_key)
    return {}


@endpoint("POST")
def params(request: Request, model_id: str) -> dict:
    model = logged_model_read(caller=request.caller, model_id=model_id)
    logged_model_update(caller=request.caller, model=model, params=request.params.list("params"))
    return {}


@endpoint("POST")
def search(request: Request) -> dict:
    p = request.params
    experiments = [experiment_get(user=request.user, experiment_id=str(e)) for e in p.list("experiment_ids")]
    if not experiments:
        raise invalid("search-logged-models needs at least one experiment id.")
    limit = max_results(p, default=100, limit=1000)
    offset = page_token_read(p.str("page_token"))
    page, more = logged_models_search(caller=request.caller, experiments=experiments, filter_string=p.str("filter"),
                                      order_by=p.list("order_by"), offset=offset, limit=limit)
    out = {"models": [logged_model_json(m, request.caller) for m in page]}
    if more:
        out["next_page_token"] = page_token_make(offset + limit)
    return out
