"""The compare pages: /compare/?runs=..., a saved view at /c/<slug>, and a workflow's trend at
/w/<ns>/<name>/trend. They read the same selectors as the API, and the page's charts get
the very JSON ``GET /api/v1/compare`` answers, embedded."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Team
from core.errors import InvalidInput
from core.views import domain_errors
from registry.selectors import asset_get

from .models import SavedComparison
from runs.run_table import run_table

from .options import MAX_RUNS, CompareOptions, options_parse
from .selectors import compare_data, compare_json, compare_runs, comparison_get, saved_options
from .services import comparison_save
from .trend import trend_data, trend_params

# As django.utils.html.json_script escapes: the JSON goes inside <script>, so no "</script>".
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def _query(request: HttpRequest) -> QueryDict:
    """The request's options, with ``runs`` ticked as several checkboxes joined into one list."""
    query = request.GET.copy()
    ids = [i for value in query.getlist("runs") for i in value.split(",") if i.strip()]
    if ids:
        query.setlist("runs", [",".join(ids)])
    return query


def _render(request: HttpRequest, options: CompareOptions, *, saved: SavedComparison | None = None,
            min_runs: int = 2) -> HttpResponse:
    body, series = compare_data(user=request.user, options=options, min_runs=min_runs)
    runs = body["runs"]
    context = {
        "body": body, "runs": runs, "options": options, "saved": saved,
        "data_json": mark_safe(compare_json(body, series).translate(_JSON_ESCAPES)),
        "api_url": f"{reverse('api:compare')}?{options.query()}" if len(runs) >= 2 else "",
        "page_url": f"{reverse('compare:page')}?{options.query()}",
        "sections": [(label, name, body["diff"][name], sum(not r["same"] for r in body["diff"][name])) for label, name in
                     (("Run", "run"), ("Parameters", "params"), ("Tags", "tags"), ("Workflow spec", "spec"))],
        "teams": Team.objects.filter(memberships__user=request.user).order_by("slug"),
        "visibilities": SavedComparison.Visibility.values,
    }
    return render(request, "compare/compare.html", context)


# The runs table's filters: "Compare these" on a runs table compares the first 100 runs it lists.
SELECTION = ("q", "sort", "workflow", "experiment", "status")


def _selected(request: HttpRequest, query: QueryDict) -> str:
    """The runs the table's filters pick (the first MAX_RUNS, in its order), as a query with
    ``runs``; the filters leave the query. A note says when more runs matched."""
    picked = {k: query.pop(k)[0] for k in SELECTION if k in query}
    table = run_table(user=request.user, q=picked.get("q", ""), sort=picked.get("sort", ""), columns=[],
                      workflow=picked.get("workflow") or None, experiment=picked.get("experiment") or None,
                      status=picked.get("status") or None, limit=MAX_RUNS)
    if table.count > len(table.runs):
        more = f"{table.count:,}{'' if table.count_exact else '+'}"
        messages.info(request, f"Comparing the first {len(table.runs)} of the {more} runs that match.")
    query.setlist("runs", [",".join(str(r.pk) for r in table.runs)])
    return query.urlencode(safe=",")


@require_GET
@login_required
def compare_page(request: HttpRequest) -> HttpResponse:
    query = _query(request)
    try:
        if "runs" not in query and any(k in query for k in SELECTION):
            return redirect(f"{reverse('compare:page')}?{_selected(request, query)}")
        if len(request.GET.getlist("runs")) > 1:  # ticked checkboxes: one canonical, shareable link
            return redirect(f"{reverse('compare:page')}?{query.urlencode(safe=',')}")
        options = options_parse(query)
        return _render(request, options)
    except InvalidInput as exc:
        return render(request, "compare/compare_error.html", {"message": exc.message, "field": exc.field}, status=400)


@require_GET
@login_required
@domain_errors
def saved_page(request: HttpRequest, slug: str) -> HttpResponse:
    comparison = comparison_get(user=request.user, slug=slug)
    visible = [r.pk for r in compare_runs(user=request.user, run_ids=comparison.run_ids)]
    options = saved_options(comparison, visible)
    if options is None:
        return render(request, "compare/compare_error.html", {
            "saved": comparison, "message": "This comparison has fewer than two runs you can see."})
    return _render(request, options, saved=comparison)


@require_POST
@login_required
@domain_errors
def save_view(request: HttpRequest) -> HttpResponse:
    """The page's "Save view" form: the current options, a title, a team and a visibility."""
    query = QueryDict(request.POST.get("query", ""))
    options = options_parse(query)
    saved = comparison_save(user=request.user, options=options, title=request.POST.get("title", ""),
                            namespace=request.POST.get("namespace") or None,
                            visibility=request.POST.get("visibility") or SavedComparison.Visibility.TEAM)
    messages.success(request, f"Saved. Anyone who may see it opens it at {request.build_absolute_uri(reverse('compare:saved', args=[saved.slug]))}")
    return redirect("compare:saved", slug=saved.slug)


@require_GET
@login_required
@domain_errors
def trend_page(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    asset = asset_get(user=request.user, namespace=namespace, name=name)
    metric, agg, limit = trend_params(request.GET)
    data = trend_data(user=request.user, asset=asset, metric=metric, agg=agg, limit=limit)
    recent = [r["id"] for r in data["runs"][-10:]]
    return render(request, "compare/trend.html", {
        "compare_recent": f"{reverse('compare:page')}?runs={','.join(map(str, recent))}" if len(recent) >= 2 else "",
        "asset": asset, "data": data, "aggs": ("last", "best", "min", "max"),
        "api_url": reverse("api:trend", args=[asset.namespace.slug, asset.name]),
    })
