"""Flowdeck runs as MLflow's Run JSON: ``{"info", "data", "inputs", "outputs"}``.

A page of runs is read in a fixed number of queries whatever its size: the latest value of
each metric comes from Flowdeck's per-key summaries (its timestamp through the (run, key,
step) index), never from a scan of the points.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import BigIntegerField, OuterRef, Subquery
from django.db.models.expressions import RawSQL

from runs.models import Metric, MetricChunk, MetricSummary, Run, RunParam, RunStatus, RunTag

from .experiments import mlflow_id, ms
from .models import LoggedModel, RunDatasetInput, RunDeletion

STATUS_TO_MLFLOW = {
    RunStatus.QUEUED: "SCHEDULED", RunStatus.RUNNING: "RUNNING", RunStatus.STOPPING: "RUNNING",
    RunStatus.SUCCEEDED: "FINISHED", RunStatus.FAILED: "FAILED", RunStatus.STOPPED: "KILLED",
}
STATUS_FROM_MLFLOW = {"RUNNING": RunStatus.RUNNING, "SCHEDULED": RunStatus.QUEUED, "FINISHED": RunStatus.SUCCEEDED,
                      "FAILED": RunStatus.FAILED, "KILLED": RunStatus.STOPPED,
                      1: RunStatus.RUNNING, 2: RunStatus.QUEUED, 3: RunStatus.SUCCEEDED, 4: RunStatus.FAILED,
                      5: RunStatus.STOPPED}


def artifact_uri(run_id: int) -> str:
    return f"mlflow-artifacts:/runs/{run_id}/artifacts"


def run_info(run: Run, user: AbstractBaseUser, *, deleted: bool | None = None) -> dict:
    if deleted is None:
        deleted = RunDeletion.objects.filter(run_id=run.pk).exists()
    run_id = str(run.pk)
    return {
        "run_id": run_id,
        "run_uuid": run_id,
        "run_name": run.name,
        "experiment_id": mlflow_id(run.experiment, user) if run.experiment_id else "",
        "user_id": run.created_by.get_username(),
        "status": STATUS_TO_MLFLOW.get(run.status, "RUNNING"),
        "start_time": ms(run.started_at or run.created_at),
        "end_time": ms(run.finished_at),
        "artifact_uri": artifact_uri(run.pk),
        "lifecycle_stage": "deleted" if deleted else "active",
    }


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _last_timestamp():
    """The time of each summary's last point (at its largest step; the latest on a tie)."""
    if connection.vendor == "postgresql":
        # Only a chunk that ends at the largest step holds it, as its last element (chunks
        # are in step order): no point is unnested.
        chunk, summary = MetricChunk._meta.db_table, MetricSummary._meta.db_table
        return RawSQL(f"SELECT max(c.timestamps[cardinality(c.timestamps)]) FROM {chunk} c WHERE c.run_id = "
                      f"{summary}.run_id AND c.key = {summary}.key AND c.step_max = {summary}.last_step", [],
                      output_field=BigIntegerField())
    stamp = Metric.objects.filter(run_id=OuterRef("run_id"), key=OuterRef("key"), step=OuterRef("last_step"))
    return Subquery(stamp.order_by("-timestamp_ms").values("timestamp_ms")[:1])


def latest_metrics(run_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Each run's metrics at their largest step, as MLflow's run.data.metrics."""
    rows = (MetricSummary.objects.filter(run_id__in=run_ids).annotate(ts=_last_timestamp())
            .order_by("run_id", "key").values_list("run_id", "key", "last", "last_step", "ts"))
    out: dict[int, list[dict]] = {}
    for run_id, key, value, step, ts in rows:
        out.setdefault(run_id, []).append({"key": key, "value": value, "timestamp": ts or 0, "step": step})
    return out


def runs_json(runs: Sequence[Run], user: AbstractBaseUser) -> list[dict]:
    """MLflow Run objects for ``runs`` (loaded with created_by and experiment__namespace)."""
    ids = [r.pk for r in runs]
    if not ids:
        return []
    metrics = latest_metrics(ids)
    params: dict[int, dict[str, str]] = {}
    for run_id, key, value in RunParam.objects.filter(run_id__in=ids).order_by().values_list("run_id", "key", "value"):
        params.setdefault(run_id, {})[key] = value
    tags: dict[int, dict[str, str]] = {}
    for run_id, key, value in RunTag.objects.filter(run_id__in=ids).order_by().values_list("run_id", "key", "value"):
        tags.setdefault(run_id, {})[key] = value
    deleted = set(RunDeletion.objects.filter(run_id__in=ids).values_list("run_id", flat=True))
    inputs: dict[int, list[dict]] = {}
    for d in RunDatasetInput.objects.filter(run_id__in=ids):
        inputs.setdefault(d.run_id, []).append({
            "tags": [{"key": k, "value": v} for k, v in d.tags.items()],
            "dataset": {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source,
                        "schema": d.schema, "profile": d.profile},
        })
    outputs: dict[int, list[dict]] = {}
    for run_id, model_id in LoggedModel.objects.filter(source_run_id__in=ids, deleted_at__isnull=True).values_list(
            "source_run_id", "id"):
        outputs.setdefault(run_id, []).append({"model_id": model_id, "step": 0})
    out = []
    for run in runs:
        run_params = {k: _text(v) for k, v in (run.params or {}).items()}
        run_params.update(params.get(run.pk, {}))
        run_tags = {"mlflow.user": run.created_by.get_username(), **({"mlflow.runName": run.name} if run.name else {})}
        if run.asset_version_id:
            run_tags["flowdeck.workflow"] = str(run.asset_version)
        run_tags.update(tags.get(run.pk, {}))
        out.append({
            "info": run_info(run, user, deleted=run.pk in deleted),
            "data": {
                "metrics": metrics.get(run.pk, []),
                "params": [{"key": k, "value": v} for k, v in sorted(run_params.items())],
                "tags": [{"key": k, "value": v} for k, v in sorted(run_tags.items())],
            },
            "inputs": {"dataset_inputs": inputs.get(run.pk, [])},
            "outputs": {"model_outputs": outputs.get(run.pk, [])},
        })
    return out
