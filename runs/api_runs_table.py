"""``GET /api/v1/runs`` (the runs table: q, columns, sort, limit/offset) and its CSV export."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime

import orjson
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from core.errors import InvalidInput
from core.params import parse_bool

from .run_table import COUNT_CAP, MAX_LIMIT, parse_columns, run_count, run_export_rows, run_table

TABLE_PARAMETERS = [
    OpenApiParameter("q", str, description="A query such as `params.lr > 0.01 and metrics.accuracy >= 0.9 and "
                     "status = succeeded and tags.team = 'cv'` (see the README). A malformed one is a 400 naming "
                     "the position."),
    OpenApiParameter("columns", str, description="Comma-separated columns whose values each result carries in "
                     "`values`: `params.<name>`, `metrics.<key>[.last|.min|.max|.best]`, `tags.<key>`, `params.*`, "
                     "`metrics.*`, `tags.*`, status, name, version, workflow, experiment, user, created, started, "
                     "duration, id."),
    OpenApiParameter("sort", str, description="A column, `-` first for descending (`-metrics.accuracy`); up to three, "
                     "comma-separated. Missing values sort last. Default `-created`."),
    OpenApiParameter("workflow", str, description="ns/name"), OpenApiParameter("experiment", str),
    OpenApiParameter("status", str),
]
COUNT_PARAMETER = OpenApiParameter(
    "count", bool, description="false: no count (`count` is null unless this is the last page), for a quicker "
    "page; `GET /api/v1/runs/count` answers it on its own. Default true.")


def _int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, got '{raw}'.", field=name) from None


def _filters(request) -> dict:
    p = request.query_params
    return {"q": p.get("q") or "", "sort": p.get("sort") or "", "workflow": p.get("workflow") or None,
            "experiment": p.get("experiment") or None, "status": p.get("status") or None}


def _when(value: datetime | None, tz) -> str | None:
    """As DRF's DateTimeField writes a moment: in the current time zone, "Z" for UTC."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def run_out(run, tz=None) -> dict:
    """``RunOut(run).data``, built directly: DRF's field machinery took most of the time of a
    1,000-run page (tests/runs/test_api_runs_table.py checks the two stay equal)."""
    version = run.asset_version
    tz = tz or timezone.get_current_timezone()

    def when(value):
        return _when(value, tz)

    return {
        "id": run.pk, "name": run.name, "workflow": version.asset.full_name if version else None,
        "version": version.version if version else None,
        "experiment": run.experiment.name if run.experiment_id else None, "namespace": run.namespace.slug,
        "created_by": run.created_by.username, "status": run.status, "params": run.params, "error": run.error,
        "created_at": when(run.created_at), "started_at": when(run.started_at), "finished_at": when(run.finished_at),
        "duration_s": run.duration_s,
    }


def runs_table_response(request) -> HttpResponse:
    """The paginated list: RunOut for each run, plus ``values`` when ``columns`` is given."""
    raw_columns = request.query_params.get("columns")
    columns = parse_columns(raw_columns) if raw_columns is not None else []
    limit = min(_int(request, "limit", 50), MAX_LIMIT)
    offset = _int(request, "offset", 0)
    table = run_table(user=request.user, columns=columns, limit=limit, offset=offset,
                      count=parse_bool(request.query_params.get("count") or True, "count"), **_filters(request))
    tz = timezone.get_current_timezone()
    results = [run_out(run, tz) for run in table.runs]
    if raw_columns is not None:
        for row, run in zip(results, table.runs):
            row["values"] = table.values[run.pk]
    url = request.build_absolute_uri()
    following = replace_query_param(url, "offset", offset + limit) if table.has_next else None
    previous = None
    if offset > 0:
        previous = remove_query_param(url, "offset") if offset <= limit else replace_query_param(url, "offset", offset - limit)
    body = {"count": table.count, "count_exact": table.count_exact, "next": following, "previous": previous,
            "results": results}
    if raw_columns is not None:
        body["columns"] = table.columns
    # orjson writes a 1,000-run page in a tenth of the time of DRF's renderer; the values
    # that are moments (created, started) are written as DRF writes them.
    return HttpResponse(orjson.dumps(body, default=lambda v: _json_value(v, tz), option=orjson.OPT_PASSTHROUGH_DATETIME),
                        content_type="application/json")


def _json_value(value: object, tz) -> object:
    if isinstance(value, datetime):
        return _when(value, tz)
    return _DRF_JSON.default(value)  # what DRF's renderer would do with anything else (raises TypeError if nothing)


_DRF_JSON = JSONEncoder()


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    # A spreadsheet runs a cell that starts like a formula; a leading quote keeps it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _stream(header: list[str], rows: Iterator[list[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


class RunsExportApi(APIView):
    @extend_schema(parameters=TABLE_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR},
                   summary="The runs that match, as CSV (streamed)",
                   description="Every run of the selection (not one page), `id` then the chosen columns; without "
                               "`columns`, the table's default columns. Text that starts like a spreadsheet formula "
                               "(= + - @) gets a leading `'`.")
    def get(self, request):
        raw = request.query_params.get("columns")
        columns = parse_columns(raw if raw else None)
        header, rows = run_export_rows(user=request.user, columns=columns, **_filters(request))
        response = StreamingHttpResponse(_stream(header, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="runs.csv"'
        return response


class RunsCountApi(APIView):
    @extend_schema(parameters=[p for p in TABLE_PARAMETERS if p.name not in ("columns", "sort")],
                   responses={200: OpenApiTypes.OBJECT}, summary="How many runs match",
                   description=f"`{{\"count\": n, \"count_exact\": true}}`: exact up to {COUNT_CAP:,}, then "
                               f"{COUNT_CAP:,} and `count_exact` false. What `GET /api/v1/runs` counts, on its own.")
    def get(self, request):
        filters = _filters(request)
        filters.pop("sort")
        count, exact = run_count(user=request.user, **filters)
        return HttpResponse(orjson.dumps({"count": count, "count_exact": exact}), content_type="application/json")
