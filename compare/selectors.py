"""Reads for comparisons. Every run goes through ``runs.selectors.runs_visible`` (that is,
``accounts.access.run_filter``): a run the user may not see is absent, and nothing about it —
not its name, not that it was asked for — reaches the answer."""
from __future__ import annotations

import json

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse

from accounts.access import comparison_filter
from core.errors import InvalidInput, NotFound
from runs.metric_goal import metric_goal
from runs.models import MetricSummary, Run
from runs.selectors import runs_visible

from .artifacts import artifact_table
from .diff import compare_diff
from .gates import gate_table
from .models import SavedComparison
from .options import MAX_KEYS, MIN_RUNS, CompareOptions, options_parse
from .series import points_per_series, series_json, summaries_of, values_at_step

# Each chart of many points is a WebGL context, and browsers keep about 16 per page (the
# parallel coordinates take one more): more keys are charted when asked for by name.
DEFAULT_CHARTED_KEYS = 12


def compare_runs(*, user: AbstractBaseUser | AnonymousUser, run_ids: tuple[int, ...] | list[int],
                 min_runs: int = 0) -> list[Run]:
    """The runs of ``run_ids`` that ``user`` may see, in the order asked. Fewer than
    ``min_runs`` of them is the error of asking for too few runs, the same whether the
    others do not exist or are hidden, so the answer tells nothing about hidden runs."""
    found = {r.pk: r for r in runs_visible(user=user).filter(pk__in=list(run_ids))}
    runs = [found[i] for i in run_ids if i in found]
    if len(runs) < min_runs:
        raise InvalidInput(f"Choose at least {min_runs} runs you can see to compare.", field="runs")
    return runs


def _when(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# Ten distinct colours, then hues spread by the golden angle: run i has the same colour in
# the legend, every chart and the tables.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def run_color(index: int) -> str:
    if index < len(PALETTE):
        return PALETTE[index]
    return f"hsl({(index * 137.508) % 360:.0f}, 65%, 45%)"


def _run_out(run: Run, charted: bool, index: int) -> dict:
    version = run.asset_version
    return {"color": run_color(index),
        "id": run.pk, "name": run.name, "label": run.name or f"run {run.pk}", "url": reverse("runs:detail", args=[run.pk]),
        "status": run.status, "workflow": version.asset.full_name if version else None,
        "version": version.version if version else None,
        "experiment": run.experiment.name if run.experiment_id else None,
        "created_at": _when(run.created_at), "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at), "duration_s": run.duration_s, "charted": charted,
    }


def _charted(runs: list[Run], sample: int | None) -> list[Run]:
    """All the runs, or ``sample`` of them spread evenly over the order given."""
    if not sample or len(runs) <= sample:
        return runs
    step = (len(runs) - 1) / (sample - 1)
    return [runs[round(i * step)] for i in range(sample)]


def _metric_table(runs: list[Run], keys: list[str], summaries: dict, options: CompareOptions) -> list[dict]:
    at_step = {}
    if options.at == "step":
        pairs = [(r.pk, k) for k in keys for r in runs if (r.pk, k) in summaries]
        at_step = values_at_step(pairs=pairs, step=options.step)
    table = []
    for key in keys:
        goal = metric_goal(key)
        row: dict = {"key": key, "goal": goal}
        cols = {name: [] for name in ("last", "last_step", "best", "best_step", "min", "max", "count")}
        for run in runs:
            s = summaries.get((run.pk, key))
            cols["last"].append(s["last"] if s else None)
            cols["last_step"].append(s["last_step"] if s else None)
            cols["best"].append(s[goal] if s else None)
            cols["best_step"].append(s[f"{goal}_step"] if s else None)
            for name in ("min", "max", "count"):
                cols[name].append(s[name] if s else None)
        row.update(cols)
        if options.at == "step":
            hits = [at_step.get((r.pk, key)) for r in runs]
            row["at_step"] = [h["value"] if h else None for h in hits]
            row["at_step_step"] = [h["step"] if h else None for h in hits]
        table.append(row)
    return table


def compare_data(*, user: AbstractBaseUser | AnonymousUser, options: CompareOptions,
                 min_runs: int = MIN_RUNS) -> tuple[dict, dict[str, list[tuple[int, str]]]]:
    """Everything the compare page shows, as ``(body, series)``: ``body`` is plain data and
    ``series`` maps each charted key to ``[(run id, JSON text)]`` (see ``compare_json``).
    Fewer than ``min_runs`` visible runs is an error naming ``runs`` (a saved view passes 0:
    it opens with whatever the viewer may see)."""
    runs = compare_runs(user=user, run_ids=options.runs, min_runs=min_runs)
    charted = _charted(runs, options.sample)
    charted_ids = {r.pk for r in charted}
    all_keys = sorted(set(MetricSummary.objects.filter(run__in=runs).values_list("key", flat=True).distinct()))
    keys = [k for k in options.keys if k in all_keys] if options.keys else all_keys[:MAX_KEYS]
    summaries = summaries_of(run_ids=[r.pk for r in runs], keys=keys)
    chart_keys = keys if options.keys else keys[:DEFAULT_CHARTED_KEYS]
    max_points = options.max_points or points_per_series(len(charted))
    series = series_json(runs=charted, keys=chart_keys, summaries=summaries, max_points=max_points)
    body = {
        "runs": [_run_out(r, r.pk in charted_ids, i) for i, r in enumerate(runs)],
        "options": {"runs": [r.pk for r in runs], **options.saved()},
        "diff": compare_diff(runs),
        "metrics": {"keys": keys, "all_keys": all_keys, "charted": chart_keys, "at": options.at, "step": options.step,
                    "table": _metric_table(runs, keys, summaries, options)},
        "gates": gate_table(runs),
        "artifacts": artifact_table(runs),
        "max_points": max_points,
    }
    return body, series


def compare_json(body: dict, series: dict[str, list[tuple[int, str]]]) -> str:
    """``body`` with ``"series": {key: [{"run", "t0", "step", "value", "time", "total",
    "sampled"}]}`` spliced in as text: the samples are kept as JSON, never decoded again."""
    parts = []
    for key, items in series.items():
        runs = ",".join('{"run":%d,%s' % (run_id, text[1:]) for run_id, text in items)
        parts.append(f"{json.dumps(key)}:[{runs}]")
    head = json.dumps(body, separators=(",", ":"))
    return head[:-1] + ',"series":{' + ",".join(parts) + "}}"


def comparisons_visible(*, user: AbstractBaseUser | AnonymousUser):
    return SavedComparison.objects.filter(comparison_filter(user)).select_related("owner", "namespace")


def comparison_get(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> SavedComparison:
    found = comparisons_visible(user=user).filter(slug=slug).first()
    if found is None:
        raise NotFound(f"Comparison '{slug}' was not found.", field="slug")
    return found


def comparison_out(*, user: AbstractBaseUser | AnonymousUser, comparison: SavedComparison) -> dict:
    """A saved view as its viewer may see it: only the run ids they may see."""
    visible = [r.pk for r in compare_runs(user=user, run_ids=comparison.run_ids)]
    query = saved_query(comparison, visible)
    return {
        "slug": comparison.slug, "title": comparison.title, "owner": comparison.owner.username,
        "namespace": comparison.namespace.slug, "visibility": comparison.visibility, "runs": visible,
        "options": comparison.options, "created_at": _when(comparison.created_at),
        "url": reverse("compare:saved", args=[comparison.slug]),
        "api_url": reverse("api:comparison", args=[comparison.slug]),
        # The view as a GET /api/v1/compare query (None when fewer than 2 runs are visible).
        "compare": f"{reverse('api:compare')}?{query}" if query else None,
    }


def saved_options(comparison: SavedComparison, visible: list[int]) -> CompareOptions | None:
    """A saved view's options over the runs its viewer may see (None with fewer than 2)."""
    if len(visible) < MIN_RUNS:
        return None
    return options_parse(comparison.options, runs=[str(r) for r in visible])


def saved_query(comparison: SavedComparison, visible: list[int]) -> str | None:
    """The compare query string of a saved view, over the runs its viewer may see."""
    options = saved_options(comparison, visible)
    return options.query() if options else None
