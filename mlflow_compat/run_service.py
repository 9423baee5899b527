"""MLflow's run writes, done by Flowdeck's tracking services: a run is created by
``run_create_tracked``, ended by ``run_end``, and everything it logs (log-metric, log-param,
set-tag and log-batch alike) goes through ``log_batch``, the same COPY path as Flowdeck's
own SDK. What MLflow has beyond that (reopening a run, soft delete, dataset inputs) is here."""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone

from django.db import transaction

from accounts.access import can_change_run
from core.errors import Forbidden, NotFound
from runs.models import Experiment, Run, RunStatus, RunTag
from runs.selectors import run_get, run_get_for_logging
from runs.services.tracked import run_create_tracked, run_end
from runs.services.tracking import log_batch

from .auth import Caller
from .errors import invalid, missing
from .experiments import is_deleted
from .http import as_int
from .models import RunDatasetInput, RunDeletion
from .serialize import STATUS_FROM_MLFLOW

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTRIES = 1000
RUN_NAME_TAG = "mlflow.runName"
NONFINITE_TAG = "flowdeck.nonfinite_dropped"
RUN_RELATIONS = ("created_by", "experiment__namespace", "experiment__mlflow_state", "asset_version__asset__namespace")


def _run_pk(run_id) -> int:
    text = str(run_id or "").strip()
    if not text.isdigit():
        raise missing(f"Run with id={text} not found")
    return int(text)


def from_ms(value) -> datetime:
    return datetime.fromtimestamp(as_int(value, "timestamp") / 1000, tz=timezone.utc)


def run_read(*, caller: Caller, run_id) -> Run:
    """A run the caller may see (with what MLflow's Run JSON needs); 404 otherwise."""
    pk = _run_pk(run_id)
    try:
        run = run_get(user=caller.user, run_id=pk, token=caller.token)
    except NotFound:
        raise missing(f"Run with id={run_id} not found") from None
    return Run.objects.select_related(*RUN_RELATIONS).get(pk=run.pk)


def run_for_logging(*, caller: Caller, run_id) -> Run:
    """A run the caller may log to: 404 if hidden, 403 if only viewable, and MLflow's
    INVALID_PARAMETER_VALUE for a deleted one."""
    pk = _run_pk(run_id)
    try:
        run = run_get_for_logging(user=caller.user, run_id=pk, token=caller.token)
    except NotFound:
        raise missing(f"Run with id={run_id} not found") from None
    if RunDeletion.objects.filter(run_id=pk).exists():
        raise invalid(f"The run {run_id} must be in the 'active' state. Current state is deleted.")
    return run


def run_create(*, caller: Caller, experiment: Experiment, run_name: str, start_time, tags: Mapping[str, str]) -> Run:
    if is_deleted(experiment):
        raise invalid(f"The experiment {experiment.pk} must be in the 'active' state. Current state is deleted.")
    name = run_name or tags.get(RUN_NAME_TAG, "")
    tags = dict(tags)
    if name:
        tags[RUN_NAME_TAG] = name
    run = run_create_tracked(user=caller.user, experiment=experiment.name, name=name[:200],
                             namespace=experiment.namespace, tags=tags)
    if start_time not in (None, ""):
        Run.objects.filter(pk=run.pk).update(started_at=from_ms(start_time))
    return run


def run_update(*, caller: Caller, run: Run, status, end_time, run_name: str) -> Run:
    """MLflow's update-run: a new status (a finished run may be reopened or ended again, as
    MLflow allows), an end time, a new name."""
    if not caller.run_scoped and not can_change_run(caller.user, run):
        raise Forbidden(f"You may not change run {run.pk}.")
    if run_name:
        log_batch(run=run, tags={RUN_NAME_TAG: run_name})
        Run.objects.filter(pk=run.pk).update(name=run_name[:200])
    if status not in (None, ""):
        if status not in STATUS_FROM_MLFLOW:
            raise invalid(f"Invalid run status {status!r}: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
        wanted = STATUS_FROM_MLFLOW[status]
        if run.asset_version_id is not None:
            # A workflow run's status is its steps' to set: mlflow.end_run() inside a step must
            # not end (or fail) the whole run, so MLflow's status updates are ignored there.
            return Run.objects.select_related(*RUN_RELATIONS).get(pk=run.pk)
        ended = from_ms(end_time) if end_time not in (None, "") else None
        if wanted in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED):
            if not Run.objects.get(pk=run.pk).is_final:
                run_end(user=run.created_by if caller.run_scoped else caller.user, run=run, status=wanted)
            fields = {"status": wanted, **({"finished_at": ended} if ended else {})}
            Run.objects.filter(pk=run.pk).update(**fields)
        else:
            Run.objects.filter(pk=run.pk).update(status=wanted, finished_at=None)
    return Run.objects.select_related(*RUN_RELATIONS).get(pk=run.pk)


def _require_change(caller: Caller, run: Run) -> None:
    if not can_change_run(caller.user, run):
        raise Forbidden(f"You may not change run {run.pk}.")


def run_delete(*, caller: Caller, run: Run) -> None:
    _require_change(caller, run)
    RunDeletion.objects.get_or_create(run=run)


def run_restore(*, caller: Caller, run: Run) -> None:
    _require_change(caller, run)
    RunDeletion.objects.filter(run=run).delete()


def _pairs(items, what: str) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise invalid(f"Each {what} needs a string 'key'.")
        value = item.get("value", "")
        out.append((item["key"], value if isinstance(value, str) else str(value)))
    return out


def batch_log(*, caller: Caller, run: Run, metrics: list, params: list, tags: list) -> None:
    """MLflow's log-batch, with MLflow's limits, stored by Flowdeck's ``log_batch``."""
    if len(metrics) > MAX_METRICS:
        raise invalid(f"A batch logging request can have at most {MAX_METRICS} metrics. Got {len(metrics)} metrics.")
    if len(params) > MAX_PARAMS:
        raise invalid(f"A batch logging request can have at most {MAX_PARAMS} params. Got {len(params)} params.")
    if len(tags) > MAX_TAGS:
        raise invalid(f"A batch logging request can have at most {MAX_TAGS} tags. Got {len(tags)} tags.")
    if len(metrics) + len(params) + len(tags) > MAX_ENTRIES:
        raise invalid(f"A batch logging request can have at most {MAX_ENTRIES} metrics, params and tags in total.")
    points = []
    for m in metrics:
        if not isinstance(m, Mapping):
            raise invalid("Each metric must be an object with key, value, timestamp and step.")
        value = m.get("value")
        if isinstance(value, str):  # proto JSON writes NaN and infinities as strings
            try:
                value = float(value)
            except ValueError:
                raise invalid(f"Invalid value {value!r} for metric '{m.get('key')}'.") from None
        points.append({"key": m.get("key"), "value": value,
                       "step": as_int(m.get("step") or 0, "step"),
                       "timestamp": as_int(m.get("timestamp") or 0, "timestamp") or None})
    points, dropped = _finite(points)
    param_map: dict[str, str] = {}
    for key, value in _pairs(params, "param"):
        if param_map.get(key, value) != value:
            raise invalid(f"Duplicate parameter keys have been submitted: '{key}' with different values.")
        param_map[key] = value
    tag_map = dict(_pairs(tags, "tag"))
    if dropped:
        known = RunTag.objects.filter(run=run, key=NONFINITE_TAG).values_list("value", flat=True).first() or ""
        tag_map[NONFINITE_TAG] = ",".join(sorted(set(filter(None, known.split(","))) | dropped))
    origin = getattr(caller.token, "step_run_id", None)
    with transaction.atomic():
        log_batch(run=run, metrics=points, params=param_map, tags=tag_map, origin=origin)
        if RUN_NAME_TAG in tag_map:
            Run.objects.filter(pk=run.pk).update(name=tag_map[RUN_NAME_TAG][:200])


def _finite(points: list[dict]) -> tuple[list[dict], set[str]]:
    """MLflow stores NaN and infinite values; Flowdeck's ingest refuses them. Refusing the
    batch would crash a training script whose loss went NaN once, so those points are left
    out and their keys named in the run's ``flowdeck.nonfinite_dropped`` tag instead."""
    kept, dropped = [], set()
    for p in points:
        value = p["value"]
        if isinstance(value, float) and not math.isfinite(value):
            dropped.add(str(p["key"]))
        else:
            kept.append(p)
    return kept, dropped


def tag_delete(*, run: Run, key: str) -> None:
    deleted, _ = RunTag.objects.filter(run=run, key=key).delete()
    if not deleted:
        raise missing(f"No tag with name: {key} in run with id {run.pk}")


def inputs_log(*, run: Run, datasets: list) -> None:
    """MLflow's log-inputs: datasets a run read (a dataset logged twice is kept once)."""
    for item in datasets or []:
        dataset = (item or {}).get("dataset") or {}
        for field in ("name", "digest", "source_type", "source"):
            if not isinstance(dataset.get(field), str) or not dataset.get(field):
                raise invalid(f"A dataset input needs '{field}'.")
        tags = {k: v for k, v in _pairs(item.get("tags"), "dataset tag")}
        RunDatasetInput.objects.update_or_create(
            run=run, name=dataset["name"][:500], digest=dataset["digest"][:36],
            defaults={"source_type": dataset["source_type"][:36], "source": dataset["source"],
                      "schema": dataset.get("schema") or "", "profile": dataset.get("profile") or "", "tags": tags},
        )
