"""MLflow's experiments endpoints: create, get, get-by-name, search, update, delete, restore,
set and delete tag."""
from __future__ import annotations

from ..experiments import (
    experiment_create,
    experiment_delete,
    experiment_get,
    experiment_get_by_name,
    experiment_json,
    experiment_rename,
    experiment_restore,
    experiment_tag_delete,
    experiment_tag_set,
    experiments_search,
    view_type,
)
from ..http import Request, endpoint, max_results, page_token_make, page_token_read
from ..models import ExperimentTag

SEARCH_DEFAULT = 1000
SEARCH_MAX = 50_000


def _tags(items) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value", "")) for t in items or [] if isinstance(t, dict) and t.get("key")}


@endpoint("POST")
def create(request: Request) -> dict:
    p = request.params
    experiment = experiment_create(user=request.user, name=p.str("name", required=True), tags=_tags(p.list("tags")))
    return {"experiment_id": str(experiment.pk)}


def _found(request: Request):
    return experiment_get(user=request.user, experiment_id=request.params.str("experiment_id", required=True))


@endpoint("GET")
def get(request: Request) -> dict:
    return {"experiment": experiment_json(_found(request), request.user)}


@endpoint("GET")
def get_by_name(request: Request) -> dict:
    name = request.params.str("experiment_name", required=True)
    return {"experiment": experiment_json(experiment_get_by_name(user=request.user, name=name), request.user)}


@endpoint("GET", "POST")
def search(request: Request) -> dict:
    p = request.params
    limit = max_results(p, default=SEARCH_DEFAULT, limit=SEARCH_MAX)
    offset = page_token_read(p.str("page_token"))
    page, more = experiments_search(user=request.user, filter_string=p.str("filter"), order_by=p.list("order_by"),
                                    view=view_type(p.raw("view_type")), offset=offset, limit=limit)
    tags: dict[int, list] = {}
    for exp_id, key, value in ExperimentTag.objects.filter(experiment__in=page).values_list("experiment_id", "key", "value"):
        tags.setdefault(exp_id, []).append((key, value))
    out = {"experiments": [experiment_json(e, request.user, tags.get(e.pk, [])) for e in page]}
    if more:
        out["next_page_token"] = page_token_make(offset + limit)
    return out


@endpoint("POST")
def update(request: Request) -> dict:
    new_name = request.params.str("new_name")
    if new_name:
        experiment_rename(user=request.user, experiment=_found(request), new_name=new_name)
    return {}


@endpoint("POST")
def delete(request: Request) -> dict:
    experiment_delete(user=request.user, experiment=_found(request))
    return {}


@endpoint("POST")
def restore(request: Request) -> dict:
    experiment_restore(user=request.user, experiment=_found(request))
    return {}


@endpoint("POST")
def set_tag(request: Request) -> dict:
    p = request.params
    experiment_tag_set(user=request.user, experiment=_found(request), key=p.str("key", required=True),
                       value=p.str("value"))
    return {}


@endpoint("POST")
def delete_tag(request: Request) -> dict:
    experiment_tag_delete(user=request.user, experiment=_found(request), key=request.params.str("key", required=True))
    return {}
