"""The compare API: the compare page's data, artifacts side by side, saved comparisons and
the trend of a metric across a workflow's runs. The page reads these same endpoints."""
from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core import storage
from core.errors import InvalidInput
from registry.selectors import asset_get

from .artifacts import artifact_side_by_side
from .options import MAX_RUNS, MAX_RUNS_SAMPLED, MIN_RUNS, options_parse
from .selectors import compare_data, compare_json, compare_runs, comparison_get, comparison_out, comparisons_visible
from .services import comparison_delete, comparison_save
from .trend import trend_data, trend_params

COMPARE_PARAMETERS = [
    OpenApiParameter("runs", str, required=True, description=f"Comma-separated run ids, 2 to {MAX_RUNS} (up to "
                     f"{MAX_RUNS_SAMPLED:,} with `sample`). Runs you cannot see are left out, as if never asked for."),
    OpenApiParameter("keys", str, description="Comma-separated metric keys to chart (default: every key, the first "
                     "12 charted)."),
    OpenApiParameter("at", str, enum=["last", "best", "step"], description="The values table also carries each "
                     "run's value at `step` (the point at that step, or the last one before it) with `at=step`."),
    OpenApiParameter("step", int), OpenApiParameter("max_points", int, description="Points per series, 10 to 2,000 "
                     "(default: 2,000 for up to 30 runs, fewer with more runs)."),
    OpenApiParameter("sample", int, description="With more than 100 runs: chart this many of them, spread evenly."),
    OpenApiParameter("x", str, enum=["step", "wall", "relative"], description="Display options the page reads "
                     "and saved views keep: x, smoothing (0-0.99), log, all, dims, scatter_x, scatter_y, artifact."),
]
COMPARE_DESCRIPTION = """The compare page's data: `runs` (in the order asked), `diff` (`run`, `params`, `tags` and
`spec` rows, each `{key, values: [one per run], same}`, and `versions` with links to the version diff), `metrics`
(`keys`, `table`: per key `goal` and per run `last`, `best`, `min`, `max`, their steps and, with `at=step`,
`at_step`), `gates` (per gated step, each run's outcome), `artifacts` (paths with each run's size) and `series`
(per charted key, each run's downsampled points: `step`, `value`, `time` in ms after `t0`, `total`, `sampled`).
Unknown options, fewer than 2 visible runs or too many runs: 400 naming the field."""


def _one(request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidInput(f"{name} is required.", field=name)
    return value


class CompareApi(APIView):
    @extend_schema(parameters=COMPARE_PARAMETERS, responses={200: OpenApiTypes.OBJECT},
                   summary="Compare runs: diff, metric overlays, values at a step or at best, gates, artifacts",
                   description=COMPARE_DESCRIPTION)
    def get(self, request):
        options = options_parse(request.query_params)
        body, series = compare_data(user=request.user, options=options)
        return HttpResponse(compare_json(body, series), content_type="application/json")


class CompareArtifactApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("runs", str, required=True), OpenApiParameter("path", str, required=True)],
                   responses={200: OpenApiTypes.OBJECT}, summary="One artifact path in every run, side by side",
                   description="`{path, kind, items: [per run: run, present, size, url, and by kind: shown (image), "
                               "text, truncated, diff (unified, against the first run that has it), rows (CSV)]}`. "
                               "At most 256 KiB of each run's file is read. Runs you cannot see are left out; fewer than 2 "
                               "visible runs: 400 naming `runs`.")
    def get(self, request):
        unknown = sorted(set(request.query_params) - {"runs", "path", "format"})
        if unknown:
            raise InvalidInput(f"Unknown option '{unknown[0]}'; the options are runs, path.", field=unknown[0])
        options = options_parse({"runs": _one(request, "runs")})
        path = storage.clean_relpath(_one(request, "path"))  # a bad request names its field first
        # As the compare API: fewer than 2 runs one may see is a 400, as if the others were never asked for.
        runs = compare_runs(user=request.user, run_ids=options.runs, min_runs=MIN_RUNS)
        return Response(artifact_side_by_side(runs=runs, path=path))


SAVE_BODY = {"type": "object", "required": ["runs"], "properties": {
    "runs": {"type": "array", "items": {"type": "integer"}}, "title": {"type": "string"},
    "namespace": {"type": "string", "description": "A team you are a member of (default: your own namespace)."},
    "visibility": {"type": "string", "enum": ["team", "private"]},
    "options": {"type": "object", "description": "The compare options (keys, at, step, x, smoothing, log, ...)."}}}


class ComparisonsApi(APIView):
    required_scope = "write"

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The saved comparisons you can open",
                   operation_id="comparisons_list")
    def get(self, request):
        rows = comparisons_visible(user=request.user).order_by("-created_at")[:200]
        return Response({"results": [comparison_out(user=request.user, comparison=c) for c in rows]})

    @extend_schema(request=OpenApiRequest(SAVE_BODY), responses={201: OpenApiTypes.OBJECT},
                   summary="Save a comparison as a view with a short link")
    def post(self, request):
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise InvalidInput("The body must be a JSON object.", field=None)
        unknown = sorted(set(body) - {"runs", "title", "namespace", "visibility", "options"})
        if unknown:
            raise InvalidInput(f"Unknown field '{unknown[0]}'.", field=unknown[0])
        raw_options = body.get("options") or {}
        if not isinstance(raw_options, dict):
            raise InvalidInput("options must be an object.", field="options")
        if "runs" in raw_options:
            raise InvalidInput("runs goes at the top level, not in options.", field="options.runs")
        runs = body.get("runs")
        if not isinstance(runs, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in runs):
            raise InvalidInput("runs must be a list of run ids.", field="runs")
        options = options_parse(raw_options, runs=[str(r) for r in runs])
        saved = comparison_save(user=request.user, options=options, title=str(body.get("title") or ""),
                                namespace=body.get("namespace") or None, visibility=body.get("visibility") or "team")
        return Response(comparison_out(user=request.user, comparison=saved), status=201)


class ComparisonDetailApi(APIView):
    required_scope = "write"

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="A saved comparison, with the runs you may see",
                   description="Runs of the view that you cannot see are absent; the answer says nothing about them. "
                               "`compare` is the query for `GET /api/v1/compare`.")
    def get(self, request, slug: str):
        comparison = comparison_get(user=request.user, slug=slug)
        return Response(comparison_out(user=request.user, comparison=comparison))

    @extend_schema(responses={204: None}, summary="Delete a saved comparison (its owner only)")
    def delete(self, request, slug: str):
        comparison_delete(user=request.user, comparison=comparison_get(user=request.user, slug=slug))
        return Response(status=204)


class TrendApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("metric", str), OpenApiParameter("agg", str, enum=["last", "best", "min", "max"]),
                               OpenApiParameter("limit", int, description="The newest N runs (default 500, at most 5,000).")],
                   responses={200: OpenApiTypes.OBJECT}, summary="A metric's value over a workflow's runs, with gate thresholds",
                   description="`{workflow, metric, agg, goal, metrics, runs: [{id, label, url, version, status, "
                               "created_at, value, step, thresholds: [{step, expr, op, value}]}]}`, oldest first.")
    def get(self, request, namespace: str, name: str):
        asset = asset_get(user=request.user, namespace=namespace, name=name)
        metric, agg, limit = trend_params(request.query_params)
        return Response(trend_data(user=request.user, asset=asset, metric=metric, agg=agg, limit=limit))
