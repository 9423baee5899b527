"""Metric series for the compare page: every chosen key of every run, downsampled by the
runs app's sampler (``runs.metric_selectors.metric_sampled``), and every run's value at a step.

A comparison of 100 runs x 5 keys x 10,000 steps would re-read 5 million points on each open.
Finished runs' samples are kept (``SeriesSample``) as the JSON text they are sent as, marked
with the key's summary at the time (count, last step, last, min, max): a series that changed
since has another summary and is sampled again, and a running run's series is never kept,
as it changes every second. Opening a comparison again then reads one row per series.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection

from runs import metric_chunks
from runs.metric_selectors import CHART_POINTS, metric_sampled, metric_sampled_many
from runs.models import Metric, MetricSummary, Run

from .models import SeriesSample

# Points per series: a few runs get the sampler's full 2,000; with many runs overlaid each gets
# fewer, so that a chart holds at most about 60,000 points (plenty for a screen, quick in
# WebGL). Fixed tiers, so that a run's samples can be made once, when it ends (series_warm).
TIERS = ((30, CHART_POINTS), (60, 1000), (None, 600))


def points_per_series(n_runs: int) -> int:
    return next(points for most, points in TIERS if most is None or n_runs <= most)


def _fingerprint(summary: dict) -> str:
    return f"{summary['count']}:{summary['last_step']}:{summary['last']!r}:{summary['min']!r}:{summary['max']!r}"


def summaries_of(*, run_ids: Iterable[int], keys: Iterable[str] | None = None) -> dict[tuple[int, str], dict]:
    """(run id, key) -> the key's summary (last, last_step, min, max, min_step, max_step, count)."""
    rows = MetricSummary.objects.filter(run_id__in=list(run_ids))
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    fields = ("run_id", "key", "last", "last_step", "min", "max", "min_step", "max_step", "count")
    return {(r["run_id"], r["key"]): r for r in rows.values(*fields)}


def _encode(points: list[dict]) -> str:
    # Times go as offsets from the series' first point (short integers, not 13-digit ones);
    # "t0" carries that first time in milliseconds.
    t0 = points[0]["timestamp"] if points else 0
    return json.dumps({"t0": t0, "step": [p["step"] for p in points], "value": [p["value"] for p in points],
                       "time": [p["timestamp"] - t0 for p in points]}, separators=(",", ":"))


def series_json(*, runs: list[Run], keys: list[str], summaries: dict[tuple[int, str], dict],
                max_points: int) -> dict[str, list[tuple[int, str]]]:
    """key -> [(run id, the JSON text of {"t0", "step", "value", "time", "total", "sampled"})],
    in the order of ``runs``, for each run that logged the key."""
    wanted = [(run, key) for key in keys for run in runs if (run.pk, key) in summaries]
    kept = {
        (row["run_id"], row["key"]): row
        for row in SeriesSample.objects.filter(run_id__in=[r.pk for r in runs], key__in=keys, max_points=max_points)
        .values("run_id", "key", "fingerprint", "data", "total", "sampled")
    }
    stale = [(run, key) for run, key in wanted
             if (run.pk, key) not in kept or kept[(run.pk, key)]["fingerprint"] != _fingerprint(summaries[(run.pk, key)])]
    made = _sample_all(stale, summaries, max_points)
    fresh: list[SeriesSample] = []
    out: dict[str, list[tuple[int, str]]] = {key: [] for key in keys}
    for run, key in wanted:
        row = kept.get((run.pk, key))
        sample = made.get((run.pk, key))
        if sample is not None:
            row = {"data": sample.data, "total": sample.total, "sampled": sample.sampled}
            if run.is_final:
                fresh.append(sample)
        flags = f',"total":{int(row["total"])},"sampled":{"true" if row["sampled"] else "false"}'
        out[key].append((run.pk, row["data"][:-1] + flags + "}"))
    _keep(fresh)
    return out


def _sample(run: Run, key: str, summary: dict, max_points: int, sample: dict | None = None) -> SeriesSample:
    sample = sample or metric_sampled(run=run, key=key, max_points=max_points)
    return SeriesSample(run=run, key=key, max_points=max_points, fingerprint=_fingerprint(summary),
                        data=_encode(sample["points"]), total=sample["total"], sampled=sample["sampled"])


def _sample_all(pairs: list[tuple[Run, str]], summaries: dict[tuple[int, str], dict],
                max_points: int) -> dict[tuple[int, str], SeriesSample]:
    """Samples of every (run, key) in ``pairs``, a key's runs sampled together."""
    made: dict[tuple[int, str], SeriesSample] = {}
    for key in dict.fromkeys(k for _, k in pairs):
        runs = [run for run, k in pairs if k == key]
        totals = {run.pk: summaries[(run.pk, key)]["count"] for run in runs}
        answers = metric_sampled_many(runs=runs, key=key, totals=totals, max_points=max_points)
        for run in runs:
            made[(run.pk, key)] = _sample(run, key, summaries[(run.pk, key)], max_points, answers[run.pk])
    return made


def _keep(samples: list[SeriesSample]) -> None:
    if samples:
        SeriesSample.objects.bulk_create(samples, update_conflicts=True, unique_fields=["run", "key", "max_points"],
                                         update_fields=["fingerprint", "data", "total", "sampled", "created_at"])


def series_warm(*, run_id: int) -> int:
    """Sample every metric of a finished run at each tier the compare page asks for, so that
    the first comparison that includes it reads kept samples. Returns how many were made
    (a sample already kept and still current is left alone)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None or not run.is_final:
        return 0
    summaries = summaries_of(run_ids=[run_id])
    tiers = sorted({points for _most, points in TIERS})
    kept = {(r["key"], r["max_points"]): r["fingerprint"]
            for r in SeriesSample.objects.filter(run_id=run_id).values("key", "max_points", "fingerprint")}
    made = [_sample(run, key, summary, points) for (_rid, key), summary in summaries.items() for points in tiers
            if kept.get((key, points)) != _fingerprint(summary)]
    _keep(made)
    return len(made)


def values_at_step(*, pairs: list[tuple[int, str]], step: int) -> dict[tuple[int, str], dict]:
    """(run id, key) -> {"step", "value"}: the point at ``step``, or the last one before it
    (a run logged every 10 steps still answers for step 15). Pairs with no point at or
    before ``step`` are left out. One query: an index probe per pair."""
    if not pairs:
        return {}
    if connection.vendor == "postgresql":
        rows = metric_chunks.values_at_step(pairs, step)
    else:
        rows = []
        for run_id, key in pairs:
            hit = (Metric.objects.filter(run_id=run_id, key=key, step__lte=step)
                   .order_by("-step", "-timestamp_ms").values_list("step", "value").first())
            if hit:
                rows.append((run_id, key, *hit))
    return {(run_id, key): {"step": s, "value": v} for run_id, key, s, v in rows}
