"""MLflow's runs endpoints: create, get, update, delete, restore, search, log-metric,
log-parameter, log-batch, set-tag, delete-tag, log-inputs and log-outputs."""
from __future__ import annotations

from ..experiments import experiment_get, view_type
from ..http import Request, endpoint, max_results, page_token_make, page_token_read
from ..models import LoggedModel
from ..run_search import DEFAULT_RESULTS, MAX_RESULTS, runs_search
from ..run_service import (
    batch_log,
    inputs_log,
    run_create,
    run_delete,
    run_for_logging,
    run_read,
    run_restore,
    run_update,
    tag_delete,
)
from ..serialize import run_info, runs_json
from ..errors import invalid


def _run_id(request: Request) -> str:
    p = request.params
    return p.str("run_id") or p.str("run_uuid") or ""


def _one(request: Request, run) -> dict:
    return runs_json([run], request.user)[0]


@endpoint("POST")
def create(request: Request) -> dict:
    p = request.params
    experiment = experiment_get(user=request.user, experiment_id=p.str("experiment_id") or "0")
    tags = {str(t.get("key")): str(t.get("value", "")) for t in p.list("tags") if isinstance(t, dict) and t.get("key")}
    run = run_create(caller=request.caller, experiment=experiment, run_name=p.str("run_name"),
                     start_time=p.raw("start_time"), tags=tags)
    return {"run": _one(request, run_read(caller=request.caller, run_id=run.pk))}


@endpoint("GET", run_token=True)
def get(request: Request) -> dict:
    return {"run": _one(request, run_read(caller=request.caller, run_id=_run_id(request)))}


@endpoint("POST", run_token=True)
def update(request: Request) -> dict:
    p = request.params
    run = run_for_logging(caller=request.caller, run_id=_run_id(request))
    run = run_update(caller=request.caller, run=run, status=p.raw("status"), end_time=p.raw("end_time"),
                     run_name=p.str("run_name"))
    return {"run_info": run_info(run, request.user)}


@endpoint("POST")
def delete(request: Request) -> dict:
    run_delete(caller=request.caller, run=run_read(caller=request.caller, run_id=_run_id(request)))
    return {}


@endpoint("POST")
def restore(request: Request) -> dict:
    run_restore(caller=request.caller, run=run_read(caller=request.caller, run_id=_run_id(request)))
    return {}


@endpoint("POST", "GET")
def search(request: Request) -> dict:
    p = request.params
    limit = max_results(p, default=DEFAULT_RESULTS, limit=MAX_RESULTS)
    offset = page_token_read(p.str("page_token"))
    ids = [str(e) for e in p.list("experiment_ids")]
    page, more = runs_search(user=request.user, experiment_ids=ids, filter_string=p.str("filter"),
                             order_by=p.list("order_by"), view=view_type(p.raw("run_view_type")),
                             offset=offset, limit=limit)
    out = {"runs": runs_json(page, request.user)}
    if more:
        out["next_page_token"] = page_token_make(offset + limit)
    return out


def _logging(request: Request):
    return run_for_logging(caller=request.caller, run_id=_run_id(request))


@endpoint("POST", run_token=True)
def log_metric(request: Request) -> dict:
    p = request.params
    metric = {"key": p.str("key", required=True), "value": p.raw("value"), "timestamp": p.raw("timestamp"),
              "step": p.raw("step")}
    if metric["value"] is None:
        raise invalid("Missing value for required parameter 'value'.")
    batch_log(caller=request.caller, run=_logging(request), metrics=[metric], params=[], tags=[])
    return {}


@endpoint("POST", run_token=True)
def log_param(request: Request) -> dict:
    p = request.params
    param = {"key": p.str("key", required=True), "value": p.raw("value", "")}
    batch_log(caller=request.caller, run=_logging(request), metrics=[], params=[param], tags=[])
    return {}


@endpoint("POST", run_token=True)
def log_batch(request: Request) -> dict:
    p = request.params
    batch_log(caller=request.caller, run=_logging(request), metrics=p.list("metrics"), params=p.list("params"),
              tags=p.list("tags"))
    return {}


@endpoint("POST", run_token=True)
def set_tag(request: Request) -> dict:
    p = request.params
    tag = {"key": p.str("key", required=True), "value": p.raw("value", "")}
    batch_log(caller=request.caller, run=_logging(request), metrics=[], params=[], tags=[tag])
    return {}


@endpoint("POST", run_token=True)
def delete_tag(request: Request) -> dict:
    tag_delete(run=_logging(request), key=request.params.str("key", required=True))
    return {}


@endpoint("POST", run_token=True)
def log_inputs(request: Request) -> dict:
    inputs_log(run=_logging(request), datasets=request.params.list("datasets"))
    return {}


@endpoint("POST", run_token=True)
def log_outputs(request: Request) -> dict:
    run = _logging(request)
    for item in request.params.list("models"):
        model_id = (item or {}).get("model_id")
        LoggedModel.objects.filter(pk=model_id, experiment_id=run.experiment_id).update(source_run=run)
    return {}
