"""Trend across runs, the continuous-training view: one metric's final (or best, min, max)
value over a workflow's runs in time order, with the thresholds its gates set on it."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse

from core.errors import InvalidInput
from registry.models import Asset
from runs.metric_goal import metric_goal
from runs.models import MetricSummary
from runs.selectors import run_list

from .gates import run_thresholds

AGGS = ("last", "best", "min", "max")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


def trend_params(raw) -> tuple[str, str, int]:
    """(metric, agg, limit) from a query string; errors name the field."""
    unknown = sorted(k for k in raw if k not in ("metric", "agg", "limit", "format"))
    if unknown:
        raise InvalidInput(f"Unknown option '{unknown[0]}'; the options are metric, agg, limit.", field=unknown[0])
    metric = (raw.get("metric") or "").strip()
    if len(metric) > 250:
        raise InvalidInput("metric is a key of at most 250 characters.", field="metric")
    agg = (raw.get("agg") or "last").strip()
    if agg not in AGGS:
        raise InvalidInput(f"agg must be one of {', '.join(AGGS)}, got {agg!r}.", field="agg")
    text = (raw.get("limit") or str(DEFAULT_LIMIT)).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {text!r}.", field="limit")
    return metric, agg, int(text)


def trend_data(*, user: AbstractBaseUser | AnonymousUser, asset: Asset, metric: str = "", agg: str = "last",
               limit: int = DEFAULT_LIMIT) -> dict:
    """``{"workflow", "metric", "agg", "goal", "metrics" (the keys to choose from), "runs":
    [{"id", "label", "url", "version", "status", "created_at", "value", "step", "thresholds":
    [{"step", "expr", "op", "value"}]}]}`` for the newest ``limit`` runs the user may see,
    oldest first. Without ``metric``, the first key a gate reads, else the first key logged."""
    runs = list(run_list(user=user, asset=asset.full_name).filter(parent_step__isnull=True)[:limit])[::-1]
    keys = sorted(set(MetricSummary.objects.filter(run__in=runs).values_list("key", flat=True).distinct()))
    if not metric:
        gated = [k for k in keys if any(run_thresholds(r, k, {}) for r in runs[-20:])]
        metric = (gated or keys or [""])[0]
    goal = metric_goal(metric) if metric else "max"
    column = {"last": "last", "min": "min", "max": "max", "best": goal}[agg]
    step_column = {"last": "last_step", "min": "min_step", "max": "max_step"}[column]
    values = {r["run_id"]: r for r in MetricSummary.objects.filter(run__in=runs, key=metric)
              .values("run_id", column, step_column)}
    parsed: dict = {}
    out = []
    for run in runs:
        row = values.get(run.pk)
        out.append({
            "id": run.pk, "label": run.name or f"run {run.pk}", "url": reverse("runs:detail", args=[run.pk]),
            "version": run.asset_version.version if run.asset_version_id else None, "status": run.status,
            "created_at": run.created_at.isoformat().replace("+00:00", "Z"),
            "value": row[column] if row else None, "step": row[step_column] if row else None,
            "thresholds": run_thresholds(run, metric, parsed) if metric else [],
        })
    return {"workflow": asset.full_name, "metric": metric, "agg": agg, "goal": goal, "metrics": keys, "runs": out}
