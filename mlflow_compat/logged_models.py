"""MLflow 3 logged models (what ``mlflow.<flavor>.log_model`` makes): created pending, their
files uploaded through the artifact proxy, then finalized READY; found again by id
(``models:/<id>``) or by name and source run (``runs:/<run>/<name>``)."""
from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db.models import Q
from django.utils import timezone

from accounts.access import require_write
from runs.models import Experiment, Run

from .auth import Caller
from .errors import invalid, missing
from .experiments import experiments_visible, mlflow_id, ms
from .filters import parse_filter
from .models import LoggedModel

STATUSES = {"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"}
_STATUS_NUMBERS = {1: "LOGGED_MODEL_PENDING", 2: "LOGGED_MODEL_READY", 3: "LOGGED_MODEL_UPLOAD_FAILED"}


def _pairs(items) -> dict[str, str]:
    out = {}
    for item in items or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or not item["key"]:
            raise invalid("Each tag or param needs a string 'key'.")
        value = item.get("value", "")
        out[item["key"]] = value if isinstance(value, str) else str(value)
    return out


def logged_model_create(*, caller: Caller, experiment: Experiment, name: str, model_type: str,
                        source_run: Run | None, params: list, tags: list) -> LoggedModel:
    require_write(caller.user, experiment.namespace, what="log models")
    return LoggedModel.objects.create(
        id=f"m-{uuid.uuid4().hex}", experiment=experiment, source_run=source_run, created_by=caller.user,
        name=(name or "model")[:500], model_type=(model_type or "")[:500], params=_pairs(params), tags=_pairs(tags),
    )


def logged_model_read(*, caller: Caller, model_id: str) -> LoggedModel:
    model = (LoggedModel.objects.filter(pk=model_id, experiment__in=experiments_visible(caller.user),
                                        deleted_at__isnull=True)
             .select_related("experiment__namespace", "created_by").first())
    if model is None:
        raise missing(f"Logged model with ID '{model_id}' not found.")
    return model


def logged_model_writable(*, caller: Caller, model: LoggedModel) -> None:
    if model.created_by_id != caller.user.pk:
        require_write(caller.user, model.experiment.namespace, what="change logged models")


def logged_model_finalize(*, caller: Caller, model: LoggedModel, status) -> LoggedModel:
    logged_model_writable(caller=caller, model=model)
    status = _STATUS_NUMBERS.get(status, status)
    if status not in STATUSES:
        raise invalid(f"Invalid logged model status {status!r}.")
    model.status = status
    model.save(update_fields=["status", "updated_at"])
    return model


def logged_model_update(*, caller: Caller, model: LoggedModel, tags: list = (), params: list = (),
                        delete_tag: str | None = None) -> None:
    logged_model_writable(caller=caller, model=model)
    model.tags.update(_pairs(tags))
    model.params.update(_pairs(params))
    if delete_tag is not None:
        if delete_tag not in model.tags:
            raise missing(f"No tag with key '{delete_tag}' on logged model {model.pk}.")
        del model.tags[delete_tag]
    model.save(update_fields=["tags", "params", "updated_at"])


def logged_model_delete(*, caller: Caller, model: LoggedModel) -> None:
    logged_model_writable(caller=caller, model=model)
    model.deleted_at = timezone.now()
    model.save(update_fields=["deleted_at", "updated_at"])


def logged_model_json(model: LoggedModel, caller: Caller) -> dict:
    return {
        "info": {
            "model_id": model.pk,
            "experiment_id": mlflow_id(model.experiment, caller.user),
            "name": model.name,
            "creation_timestamp_ms": ms(model.created_at),
            "last_updated_timestamp_ms": ms(model.updated_at),
            "artifact_uri": f"mlflow-artifacts:/models/{model.pk}/artifacts",
            "status": model.status,
            "creator_id": model.created_by_id,
            "model_type": model.model_type,
            "source_run_id": str(model.source_run_id) if model.source_run_id else "",
            "status_message": model.status_message,
            "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        },
        "data": {"params": [{"key": k, "value": v} for k, v in sorted(model.params.items())], "metrics": []},
    }


_FILTER_COLUMNS = {"name": "name", "model_id": "pk", "source_run_id": "source_run_id", "status": "status",
                   "model_type": "model_type"}
_ORDER_COLUMNS = {"name": "name", "creation_timestamp": "created_at", "creation_time": "created_at",
                  "last_updated_timestamp": "updated_at", "model_id": "pk"}


def logged_models_search(*, caller: Caller, experiments: list[Experiment], filter_string: str,
                         order_by: list, offset: int, limit: int) -> tuple[list[LoggedModel], bool]:
    found = LoggedModel.objects.filter(experiment__in=experiments, deleted_at__isnull=True)
    for c in parse_filter(filter_string):
        column = _FILTER_COLUMNS.get(c.key) if c.kind == "attribute" else None
        if c.kind == "tag":
            found = found.filter(**{f"tags__{c.key}": c.values[0]}) if c.op == "=" else found
            continue
        if column is None or c.op not in ("=", "!=", "IN", "LIKE", "ILIKE"):
            raise invalid(f"Unsupported logged model filter on {c.kind} '{c.key}' ({c.op}).")
        values = [str(int(v)) if isinstance(v, float) else v for v in c.values]
        if column == "source_run_id":
            values = [int(v) if str(v).isdigit() else -1 for v in values]
        if c.op == "=":
            q = Q(**{column: values[0]})
        elif c.op == "!=":
            q = ~Q(**{column: values[0]})
        elif c.op == "IN":
            q = Q(**{f"{column}__in": values})
        else:
            pattern = "^" + "".join(".*" if ch == "%" else "." if ch == "_" else "\\" + ch if not ch.isalnum() else ch
                                    for ch in str(values[0])) + "$"
            q = Q(**{f"{column}__{'regex' if c.op == 'LIKE' else 'iregex'}": pattern})
        found = found.filter(q)
    ordering = []
    for item in order_by or []:
        column = _ORDER_COLUMNS.get((item or {}).get("field_name", "").removeprefix("attributes."))
        if column is None:
            raise invalid(f"Unsupported logged model order_by {item!r}.")
        ordering.append(column if item.get("ascending", True) else f"-{column}")
    page = list(found.select_related("experiment__namespace", "created_by")
                .order_by(*ordering, "-created_at", "pk")[offset:offset + limit + 1])
    return page[:limit], len(page) > limit
