"""The diff-first tables: run facts, params, tags and the workflow spec of each run, one row per
key with a value per run, marked ``same`` when every run has the same value. The page shows
only the rows that differ unless asked for all."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.urls import reverse

from runs.models import Run, RunParam, RunTag


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _rows(per_run: list[dict[str, str]], order: list[str] | None = None) -> list[dict]:
    keys = order if order is not None else sorted({k for values in per_run for k in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_run]
        if all(v is None for v in values):
            continue
        rows.append({"key": key, "values": values, "same": len(set(values)) == 1})
    return rows


def flatten_spec(spec: dict | None) -> dict[str, str]:
    """A spec as ``path -> text``: params and steps keyed by name (``steps.train.when``,
    ``params.lr.default``), other values by their path, lists as JSON."""
    if not spec:
        return {}
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = _text(value)

    for name, value in spec.items():
        if name in ("params", "steps") and isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "name" in item:
                    walk(f"{name}.{item['name']}", {k: v for k, v in item.items() if k != "name"})
        else:
            walk(name, value)
    return out


def _run_facts(run: Run) -> dict[str, str]:
    version = run.asset_version
    facts = {
        "workflow": version.asset.full_name if version else None,
        "version": version.version if version else None,
        "status": run.status, "experiment": run.experiment.name if run.experiment_id else None,
        "namespace": run.namespace.slug, "user": run.created_by.username,
        "duration": f"{run.duration_s:.0f} s" if run.duration_s is not None else None,
    }
    return {k: v for k, v in facts.items() if v is not None}


RUN_FACTS = ["workflow", "version", "status", "experiment", "namespace", "user", "duration"]


def run_params(runs: list[Run]) -> list[dict[str, str]]:
    """Each run's params as text: a workflow run's inputs, else what it logged (as the runs
    table reads ``params.<name>``)."""
    logged: dict[int, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in RunParam.objects.filter(run__in=runs).values_list("run_id", "key", "value"):
        logged[run_id][key] = value
    out = []
    for run in runs:
        values = dict(logged.get(run.pk, {}))
        values.update({k: _text(v) for k, v in (run.params or {}).items()})
        out.append(values)
    return out


def run_tags(runs: list[Run]) -> list[dict[str, str]]:
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in RunTag.objects.filter(run__in=runs).values_list("run_id", "key", "value"):
        tags[run_id][key] = value
    return [tags.get(run.pk, {}) for run in runs]


def version_links(runs: list[Run]) -> list[dict]:
    """For each workflow the runs used in more than one version: the versions (oldest first),
    and a link to the version diff from the oldest to each other one."""
    by_asset: dict[int, list] = {}
    for run in runs:
        if run.asset_version_id:
            versions = by_asset.setdefault(run.asset_version.asset_id, [])
            if run.asset_version not in versions:
                versions.append(run.asset_version)
    out = []
    for versions in by_asset.values():
        if len(versions) < 2:
            continue
        versions.sort(key=lambda v: v.pk)  # in the order published: the diff reads old -> new
        asset, base = versions[0].asset, versions[0]
        url = reverse("registry:diff", args=[asset.namespace.slug, asset.name])
        out.append({"workflow": asset.full_name, "versions": [v.version for v in versions],
                    "links": [{"from": base.version, "to": v.version, "url": f"{url}?from={base.version}&to={v.version}"}
                              for v in versions[1:]]})
    return out


def compare_diff(runs: list[Run]) -> dict:
    """``{"run", "params", "tags", "spec": [{"key", "values": [...per run], "same"}], "versions"}``."""
    return {
        "run": _rows([_run_facts(r) for r in runs], [k for k in RUN_FACTS]),
        "params": _rows(run_params(runs)),
        "tags": _rows(run_tags(runs)),
        "spec": _rows([flatten_spec(r.asset_version.spec if r.asset_version_id else None) for r in runs]),
        "versions": version_links(runs),
    }
