"""MLflow's metric history: get-history (whole, or paged with max_results) and
get-history-bulk-interval (a sample of several runs' histories, for charts)."""
from __future__ import annotations

import json

from django.http import HttpResponse

from runs.metric_selectors import metric_history_json, metric_sampled
from runs.models import Metric

from ..errors import invalid
from ..http import Request, endpoint, page_token_make, page_token_read
from ..run_service import run_read

PAGE_MAX = 25_000
BULK_MAX_RUNS = 100
BULK_MAX_POINTS = 2500


@endpoint("GET", run_token=True)
def history(request: Request):
    p = request.params
    run = run_read(caller=request.caller, run_id=p.str("run_id") or p.str("run_uuid"))
    key = p.str("metric_key", required=True)
    limit = p.int("max_results")
    offset = page_token_read(p.str("page_token"))
    if not limit and not offset:
        # Whole history, as MLflow's client asks by default: Flowdeck's one-query read (string_agg
        # on PostgreSQL) as columns, reshaped without a query per point.
        cols = json.loads(metric_history_json(run=run, key=key, columns=True))
        body = json.dumps({"metrics": [
            {"key": key, "value": v, "timestamp": t, "step": s}
            for s, v, t in zip(cols["step"], cols["value"], cols["timestamp"], strict=True)
        ]}, separators=(",", ":"))
        return HttpResponse(body, content_type="application/json")
    limit = min(limit or PAGE_MAX, PAGE_MAX)
    rows = list(Metric.objects.filter(run=run, key=key).order_by("step", "timestamp_ms", "pk")
                .values_list("step", "value", "timestamp_ms")[offset:offset + limit + 1])
    out = {"metrics": [{"key": key, "value": v, "timestamp": t, "step": s} for s, v, t in rows[:limit]]}
    if len(rows) > limit:
        out["next_page_token"] = page_token_make(offset + limit)
    return out


def _evenly(rows: list[tuple], n: int) -> list[tuple]:
    """At most ``n`` of ``rows``, evenly spaced, the first and last always among them."""
    if len(rows) <= n:
        return rows
    if n == 1:
        return rows[-1:]
    picks = sorted({round(i * (len(rows) - 1) / (n - 1)) for i in range(n)})
    return [rows[i] for i in picks]


@endpoint("GET")
def history_bulk_interval(request: Request) -> dict:
    p = request.params
    run_ids = p.list("run_ids")
    key = p.str("metric_key", required=True)
    if not run_ids:
        raise invalid("GetMetricHistoryBulkInterval request must specify at least one run_id.")
    if len(run_ids) > BULK_MAX_RUNS:
        raise invalid(f"GetMetricHistoryBulkInterval request cannot specify more than {BULK_MAX_RUNS} run_ids.")
    n = p.int("max_results", default=BULK_MAX_POINTS)
    if not 1 <= n <= BULK_MAX_POINTS:
        raise invalid(f"max_results must be between 1 and {BULK_MAX_POINTS}.")
    start, end = p.int("start_step"), p.int("end_step")
    if (start is None) != (end is None):
        raise invalid("If either start step or end step are specified, both must be specified.")
    if start is not None and start > end:
        raise invalid("end_step must be greater than start_step.")
    out = []
    for run_id in run_ids:
        run = run_read(caller=request.caller, run_id=run_id)
        if start is None and n >= 10:
            # Flowdeck's chart sampler: each bucket's low and high survive, so spikes do too.
            rows = [(pt["step"], pt["value"], pt["timestamp"]) for pt in metric_sampled(run=run, key=key, max_points=n)["points"]]
        else:
            points = Metric.objects.filter(run=run, key=key)
            if start is not None:
                points = points.filter(step__gte=start, step__lte=end)
            rows = _evenly(list(points.order_by("step", "timestamp_ms").values_list("step", "value", "timestamp_ms")), n)
        out += [{"key": key, "value": v, "timestamp": t, "step": s, "run_id": str(run.pk)} for s, v, t in rows]
    return {"metrics": out}
