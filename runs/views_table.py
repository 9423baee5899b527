"""The runs table pages: all runs (/runs/), one workflow's (/w/<ns>/<name>/runs/) and one
experiment's (/runs/?experiment=<name>), with a query box, a column picker, sortable
headers, pages and a CSV link. The same selector as ``GET /api/v1/runs``."""
from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.errors import InvalidInput
from core.views import domain_errors
from registry.selectors import asset_get

from .models import RunStatus
from .query import QueryError
from .run_table import DEFAULT_COLUMNS, RunTable, parse_columns, run_table

PAGE_SIZE = 50
PLAIN_COLUMNS = ("workflow", "version", "name", "status", "experiment", "user", "created", "started", "duration")


@require_GET
@login_required
def run_list_page(request: HttpRequest) -> HttpResponse:
    return _table_page(request, workflow=(request.GET.get("workflow") or "").strip())


@require_GET
@login_required
@domain_errors
def workflow_runs_page(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)  # 404 unless visible
    return _table_page(request, workflow=asset.full_name, asset=asset)


def _table_page(request: HttpRequest, *, workflow: str, asset=None) -> HttpResponse:
    g = request.GET
    q, sort = (g.get("q") or "").strip(), (g.get("sort") or "").strip()
    experiment, status = (g.get("experiment") or "").strip(), g.get("status") or ""
    status = status if status in RunStatus.values else ""
    picked = g.getlist("col") or ([c for c in g.get("columns", "").split(",") if c] if g.get("columns") else None)
    page = int(g["page"]) if (g.get("page") or "").isdigit() and int(g["page"]) > 0 else 1
    error, table, columns = None, None, list(DEFAULT_COLUMNS)
    try:
        columns = parse_columns(picked)
        table = run_table(user=request.user, q=q, sort=sort, columns=columns, workflow=workflow or None,
                          experiment=experiment or None, status=status or None,
                          limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, discover_keys=True, count=False)
    except InvalidInput as exc:
        error = {"message": exc.message, "field": exc.field, "position": getattr(exc, "position", None)}
        if isinstance(exc, QueryError) and exc.field == "q":
            error["before"], error["after"] = q[:exc.position], q[exc.position:]
    context = {
        "asset": asset, "workflow": workflow, "experiment": experiment, "status": status, "q": q, "sort": sort,
        "statuses": RunStatus.values, "error": error, "table": table, "page_number": page,
        "columns": table.columns if table else columns,
        "header": [_header(c, sort) for c in (table.columns if table else columns)],
        "header_id_sort": _header("id", sort)["sort"],
        "rows": _rows(table) if table else [],
        "picker": _picker(table, table.columns if table else columns),
        "export_url": _api_url("api:runs-export", q=q, sort=sort, workflow=workflow, experiment=experiment,
                               status=status, columns=",".join(table.columns if table else columns)),
        # The page is shown before its runs are counted: static/run_count.js asks for the count.
        "count_url": _api_url("api:runs-count", q=q, workflow=workflow, experiment=experiment, status=status),
        "first": (page - 1) * PAGE_SIZE + 1,
        "last": (page - 1) * PAGE_SIZE + (len(table.runs) if table else 0),
    }
    return render(request, "runs/run_list.html", context, status=400 if error else 200)


def _api_url(name: str, **params: str) -> str:
    """The API route with the table's selection as its query, leaving out what is empty."""
    return reverse(name) + "?" + urlencode({k: v for k, v in params.items() if v})


def _header(column: str, sort: str) -> dict:
    current = sort.split(",")[0] if sort else ""
    if current == column:
        nxt, arrow = f"-{column}", "▲"
    elif current == f"-{column}":
        nxt, arrow = column, "▼"
    else:
        nxt, arrow = (f"-{column}" if column.startswith("metrics.") or column in ("created", "started", "duration")
                      else column), ""
    return {"name": column, "sort": nxt, "arrow": arrow}


def _rows(table: RunTable) -> list[dict]:
    return [{"run": run, "cells": [{"column": c, "value": table.values[run.pk].get(c)} for c in table.columns]}
            for run in table.runs]


def _picker(table: RunTable | None, chosen: list[str]) -> list[dict]:
    """The column picker's groups: plain columns, then the params, metrics and tags of the runs shown."""
    keys = table.keys if table else {}
    groups = [("Run", list(PLAIN_COLUMNS)), ("Params", [f"params.{k}" for k in keys.get("param", [])]),
              ("Metrics", [f"metrics.{k}{agg}" for k in keys.get("metric", []) for agg in ("", ".min", ".max", ".best")]),
              ("Tags", [f"tags.{k}" for k in keys.get("tag", [])])]
    extra = [c for c in chosen if not any(c in names for _, names in groups)]
    if extra:
        groups.append(("Chosen", extra))
    return [{"label": label, "options": [{"name": n, "checked": n in chosen} for n in names]}
            for label, names in groups if names]
