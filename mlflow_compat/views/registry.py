"""MLflow's model registry endpoints (model_registry.proto)."""
from __future__ import annotations

from ..http import Request, endpoint, max_results, page_token_make, page_token_read
from ..registry import (
    download_uri,
    model_create,
    model_get,
    model_json,
    model_rename,
    model_save,
    models_search,
    stage,
    transition,
    version_create,
    version_get,
    version_json,
    versions_search,
    writable,
)
from ..run_service import run_read
from ..errors import missing


def _tags(items) -> dict[str, str]:
    return {str(t.get("key")): str(t.get("value", "")) for t in items or [] if isinstance(t, dict) and t.get("key")}


def _model(request: Request):
    return model_get(user=request.user, name=request.params.str("name", required=True))


def _version(request: Request):
    model = _model(request)
    return model, version_get(model=model, version=request.params.raw("version"))


@endpoint("POST")
def model_create_view(request: Request) -> dict:
    p = request.params
    model = model_create(user=request.user, name=p.str("name", required=True), description=p.str("description"),
                         tags=_tags(p.list("tags")))
    return {"registered_model": model_json(model)}



@endpoint("GET")
def model_get_view(request: Request) -> dict:
    return {"registered_model": model_json(_model(request))}


@endpoint("GET", "POST")
def model_search(request: Request) -> dict:
    p = request.params
    limit = max_results(p, default=100, limit=1000)
    offset = page_token_read(p.str("page_token"))
    page, more = models_search(user=request.user, filter_string=p.str("filter"), order_by=p.list("order_by"),
                               offset=offset, limit=limit)
    out = {"registered_models": [model_json(m) for m in page]}
    if more:
        out["next_page_token"] = page_token_make(offset + limit)
    return out


@endpoint("POST")
def model_rename_view(request: Request) -> dict:
    model = model_rename(user=request.user, model=_model(request), new_name=request.params.str("new_name"))
    return {"registered_model": model_json(model)}


@endpoint("PATCH", "POST")
def model_update(request: Request) -> dict:
    model = _model(request)
    model.description = request.params.str("description")
    return {"registered_model": model_json(model_save(user=request.user, model=model, fields=["description"]))}


@endpoint("DELETE")
def model_delete(request: Request) -> dict:
    model = _model(request)
    writable(request.user, model)
    model.delete()
    return {}


@endpoint("POST", "GET")
def latest_versions(request: Request) -> dict:
    model = _model(request)
    wanted = {stage(s) for s in request.params.list("stages")}
    latest = {}
    for v in model.versions.select_related("created_by").order_by("version"):
        latest[v.stage] = v
    return {"model_versions": [version_json(v, model) for s, v in sorted(latest.items(), key=lambda kv: kv[1].version)
                               if not wanted or s in wanted]}


@endpoint("POST")
def model_tag_set(request: Request) -> dict:
    model = _model(request)
    model.tags[request.params.str("key", required=True)] = request.params.str("value")
    model_save(user=request.user, model=model, fields=["tags"])
    return {}


@endpoint("DELETE")
def model_tag_delete(request: Request) -> dict:
    model = _model(request)
    if model.tags.pop(request.params.str("key", required=True), None) is None:
        raise missing(f"No tag with key '{request.params.str('key')}' on registered model {model.name}.")
    model_save(user=request.user, model=model, fields=["tags"])
    return {}


@endpoint("GET", "POST", "DELETE")
def alias(request: Request) -> dict:
    model = _model(request)
    name = request.params.str("alias", required=True)
    if request.http.method == "GET":
        if name not in model.aliases:
            raise missing(f"Registered model alias {name} not found.")
        return {"model_version": version_json(version_get(model=model, version=model.aliases[name]), model)}
    if request.http.method == "POST":
        model.aliases[name] = version_get(model=model, version=request.params.raw("version")).version
    else:
        model.aliases.pop(name, None)
    model_save(user=request.user, model=model, fields=["aliases"])
    return {}


@endpoint("POST")
def version_create_view(request: Request) -> dict:
    p = request.params
    model = _model(request)
    run = run_read(caller=request.caller, run_id=p.str("run_id")) if p.str("run_id") else None
    version = version_create(user=request.user, model=model, source=p.str("source"), run=run,
                             model_id=p.str("model_id"), description=p.str("description"), tags=_tags(p.list("tags")))
    return {"model_version": version_json(version, model)}


@endpoint("GET")
def version_get_view(request: Request) -> dict:
    model, version = _version(request)
    return {"model_version": version_json(version, model)}


@endpoint("GET", "POST")
def version_search(request: Request) -> dict:
    p = request.params
    limit = max_results(p, default=1000, limit=200_000)
    offset = page_token_read(p.str("page_token"))
    page, more = versions_search(user=request.user, filter_string=p.str("filter"), offset=offset, limit=limit)
    out = {"model_versions": [version_json(v) for v in page]}
    if more:
        out["next_page_token"] = page_token_make(offset + limit)
    return out


@endpoint("PATCH", "POST")
def version_update(request: Request) -> dict:
    model, version = _version(request)
    writable(request.user, model)
    version.description = request.params.str("description")
    version.save(update_fields=["description", "updated_at"])
    return {"model_version": version_json(version, model)}


@endpoint("DELETE")
def version_delete(request: Request) -> dict:
    model, version = _version(request)
    writable(request.user, model)
    model.aliases = {a: n for a, n in model.aliases.items() if n != version.version}
    model.save(update_fields=["aliases", "updated_at"])
    version.delete()
    return {}


@endpoint("GET")
def version_download_uri(request: Request) -> dict:
    _model_, version = _version(request)
    return {"artifact_uri": download_uri(version)}


@endpoint("POST")
def version_tag_set(request: Request) -> dict:
    model, version = _version(request)
    writable(request.user, model)
    version.tags[request.params.str("key", required=True)] = request.params.str("value")
    version.save(update_fields=["tags", "updated_at"])
    return {}


@endpoint("DELETE")
def version_tag_delete(request: Request) -> dict:
    model, version = _version(request)
    writable(request.user, model)
    version.tags.pop(request.params.str("key", required=True), None)
    version.save(update_fields=["tags", "updated_at"])
    return {}


@endpoint("POST")
def version_transition(request: Request) -> dict:
    model, version = _version(request)
    version = transition(user=request.user, version=version, to=stage(request.params.str("stage", required=True)),
                         archive_existing=request.params.bool("archive_existing_versions"))
    return {"model_version": version_json(version, model)}

