"""Reads for the runs table (web page, ``GET /api/v1/runs`` and its CSV export): the runs a
user may see, filtered with the query language, sorted by any column, one page at a time,
with the chosen columns' values fetched for that page only (three queries, whatever the
number of columns)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.lookups import IsNull

from accounts.access import run_filter
from core.errors import InvalidInput

from .metric_goal import metric_goal
from .models import MetricSummary, Run, RunParam, RunStatus, RunTag
from .query import Field, parse, parse_field
from .query_sql import QueryBuilder, compile_query
from .run_rows import RunRow, run_rows, run_rows_iter

DEFAULT_COLUMNS = ("workflow", "version", "name", "status", "user", "started", "duration")
MAX_COLUMNS = 100
MAX_SORT_KEYS = 3
MAX_LIMIT = 1000
COUNT_CAP = 10_000
WILDCARDS = {"params.*": "param", "metrics.*": "metric", "tags.*": "tag"}


@dataclass
class RunTable:
    runs: list[RunRow]  # what the table reads of each run (runs/run_rows.py), not Run instances
    columns: list[str]  # canonical names, wildcards expanded
    values: dict[int, dict[str, object]]  # run id -> column -> value (None when the run has none)
    count: int | None  # None: not counted (``count=False``) and more pages follow
    count_exact: bool
    has_next: bool
    limit: int
    offset: int
    keys: dict[str, list[str]] = field(default_factory=dict)  # "param"/"metric"/"tag" -> keys on this page


def parse_columns(raw: str | Sequence[str] | None) -> list[str]:
    """``"params.lr,metrics.acc.max"`` (or a list) as canonical names; wildcards stay as written."""
    if raw is None:
        return list(DEFAULT_COLUMNS)
    items = [c.strip() for c in (raw.split(",") if isinstance(raw, str) else raw) if c and c.strip()]
    if len(items) > MAX_COLUMNS:
        raise InvalidInput(f"At most {MAX_COLUMNS} columns can be chosen.", field="columns")
    names: list[str] = []
    for item in items:
        name = item if item in WILDCARDS else parse_field(item, error_field="columns").name
        if name not in names:
            names.append(name)
    return names


@dataclass
class Selection:
    """The runs a user may see that match, unordered (``matching``) and sorted (``ordered``).
    ``lead`` is the first sort key's expression when it is a metric: a page then reads the
    runs that have the metric through an index on it, and the runs without it after them."""

    matching: QuerySet[Run]
    ordered: QuerySet[Run]
    base: QuerySet[Run]  # before the query's filter: a join must come from one filter() call to be shared
    where: Q
    lead: tuple[object, bool] | None  # (expression, descending)
    rest: list  # the ordering after ``lead``


def run_selection(
    *, user: AbstractBaseUser | AnonymousUser, q: str = "", sort: str = "", workflow: str | None = None,
    experiment: str | None = None, status: str | None = None,
) -> Selection:
    """Raises QueryError (400, field ``q``, ``columns`` or ``sort``) for a malformed query or sort."""
    builder = QueryBuilder()
    runs = Run.objects.filter(run_filter(user))
    if workflow:
        namespace, _, name = workflow.partition("/")
        runs = runs.filter(asset_version__asset__namespace__slug=namespace, asset_version__asset__name=name)
    if experiment:  # a name; the same name in two namespaces lists both
        runs = runs.filter(experiment__name=experiment)
    if status:
        if status not in RunStatus.values:
            raise InvalidInput(f"Unknown status '{status}' (one of {', '.join(RunStatus.values)}).", field="status")
        runs = runs.filter(status=status)
    where = compile_query(parse(q), builder) if q and q.strip() else None
    ordering, lead = _ordering(sort, builder)
    base = builder.apply(runs)
    where = where if where is not None else Q()
    runs = base.filter(where)
    return Selection(matching=runs, ordered=runs.order_by(*ordering, "-pk"), base=base, where=where, lead=lead,
                     rest=ordering[1:] if lead else ordering)


def _ordering(sort: str, builder: QueryBuilder) -> tuple[list, tuple[object, bool] | None]:
    if not sort or not sort.strip():
        return ["-created_at"], None
    keys = [k.strip() for k in sort.split(",") if k.strip()]
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidInput(f"Sort by at most {MAX_SORT_KEYS} columns.", field="sort")
    ordering, lead = [], None
    for i, key in enumerate(keys):
        descending = key.startswith("-")
        field = parse_field(key.lstrip("+-"), error_field="sort")
        if i == 0 and field.kind == "metric":
            lead = (builder.metric(field.key, field.agg), descending)
        ordering += builder.order(field, descending=descending)
    return ordering, lead


def run_table(
    *, user: AbstractBaseUser | AnonymousUser, q: str = "", sort: str = "", columns: Sequence[str] | None = None,
    workflow: str | None = None, experiment: str | None = None, status: str | None = None,
    limit: int = 50, offset: int = 0, discover_keys: bool = False, count: bool = True,
) -> RunTable:
    """One page of the runs table. Its ``count`` counts only runs ``user`` may see, exactly
    up to COUNT_CAP (then ``count_exact`` is False): counting every match of a broad query
    over 100,000 runs would cost more than the page itself. With ``count=False`` the count is
    left to ``run_count`` (the web page asks for it after it has shown the page), unless
    this is the last page, where it is known."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative.", field="offset")
    columns = list(DEFAULT_COLUMNS) if columns is None else list(columns)
    selection = run_selection(user=user, q=q, sort=sort, workflow=workflow, experiment=experiment, status=status)
    runs = _page(selection, offset, limit + 1)  # one more: is there a next page?
    has_next = len(runs) > limit
    runs = runs[:limit]
    if runs and not has_next or not runs and not offset:
        matches: int | None = offset + len(runs)
    else:
        matches = _capped_count(selection) if count else None
    values, keys = column_values(runs, columns, discover_keys=discover_keys)
    return RunTable(runs=runs, columns=_expand(columns, keys), values=values,
                    count=None if matches is None else min(matches, COUNT_CAP),
                    count_exact=matches is not None and matches <= COUNT_CAP, has_next=has_next, limit=limit,
                    offset=offset, keys=keys)


def run_count(
    *, user: AbstractBaseUser | AnonymousUser, q: str = "", workflow: str | None = None,
    experiment: str | None = None, status: str | None = None,
) -> tuple[int, bool]:
    """How many runs ``user`` may see match, exactly up to COUNT_CAP: (count, exact)."""
    matches = _capped_count(run_selection(user=user, q=q, workflow=workflow, experiment=experiment, status=status))
    return min(matches, COUNT_CAP), matches <= COUNT_CAP


def _capped_count(selection: Selection) -> int:
    return selection.matching.order_by().values("pk")[:COUNT_CAP + 1].count()


def _page(selection: Selection, offset: int, n: int) -> list[RunRow]:
    """The page's runs. Ids first, in a query with only the joins the filter and sort need,
    then the rows with their relations by id: one query with both took longer to plan than
    to run."""
    with _serial():
        ids = _page_ids(selection, offset, n)
    return run_rows(ids)


@contextmanager
def _serial():
    """A page is a LIMIT query that stops after a few rows: PostgreSQL's parallel workers
    took longer to start (about 10 ms each here, and each builds its own copy of a subquery's
    hash) than the walk along the index they would share. Counts keep them."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def _page_ids(selection: Selection, offset: int, n: int) -> list[int]:
    if selection.lead is None:
        return list(selection.ordered.values_list("pk", flat=True)[offset:offset + n])
    expr, descending = selection.lead
    having = selection.base.filter(selection.where & Q(IsNull(expr, False)))
    # No NULLS LAST here: there are no nulls, and a plain order matches the index's.
    first = having.order_by(expr.desc() if descending else expr.asc(), *selection.rest, "-pk")
    ids = list(first.values_list("pk", flat=True)[offset:offset + n])
    if len(ids) == n:
        return ids
    n_having = offset + len(ids) if ids or not offset else having.count()
    lacking = selection.base.filter(selection.where & Q(IsNull(expr, True))).order_by(*selection.rest, "-pk")
    start = max(0, offset - n_having)
    return ids + list(lacking.values_list("pk", flat=True)[start:start + n - len(ids)])


def _expand(columns: Sequence[str], keys: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for name in columns:
        expanded = [f"{WILDCARDS[name]}s.{k}" for k in keys.get(WILDCARDS[name], [])] if name in WILDCARDS else [name]
        out += [c for c in expanded if c not in out]
    return out


def column_values(
    runs: Sequence[RunRow], columns: Sequence[str], *, discover_keys: bool = False,
) -> tuple[dict[int, dict[str, object]], dict[str, list[str]]]:
    """Each run's value of each column, and the param, metric and tag keys the runs have
    (of every kind with ``discover_keys``, for a column picker; else of the kinds asked for)."""
    fields = {c: parse_field(c) for c in columns if c not in WILDCARDS}
    wanted = {kind: {f.key for f in fields.values() if f.kind == kind} for kind in ("param", "metric", "tag")}
    every = {kind for c, kind in WILDCARDS.items() if c in columns}
    ids = [r.pk for r in runs]
    fetch_all = {"param", "metric", "tag"} if discover_keys else every
    metrics = _fetch(MetricSummary, ids, wanted["metric"], "metric" in fetch_all, ("last", "min", "max"))
    logged = _fetch(RunParam, ids, wanted["param"], "param" in fetch_all, ("value",))
    tags = _fetch(RunTag, ids, wanted["tag"], "tag" in fetch_all, ("value",))
    keys = {
        "param": sorted({k for r in runs for k in r.params} | {k for per in logged.values() for k in per}),
        "metric": sorted({k for per in metrics.values() for k in per}),
        "tag": sorted({k for per in tags.values() for k in per}),
    }
    for kind in every:
        for key in keys[kind]:
            name = f"{kind}s.{key}"
            fields.setdefault(name, Field(kind, key, "last" if kind == "metric" else "", name))
    # Each column's lookup is worked out once, not once per run and column: a 1,000-run page
    # with 15 columns is 15,000 cells.
    aggs = ("last", "min", "max")
    metric_cols = [(n, f.key, aggs.index(metric_goal(f.key) if f.agg == "best" else f.agg))
                   for n, f in fields.items() if f.kind == "metric"]
    param_cols = [(n, f.key) for n, f in fields.items() if f.kind == "param"]
    tag_cols = [(n, f.key) for n, f in fields.items() if f.kind == "tag"]
    plain_cols = [(n, f.kind) for n, f in fields.items() if f.kind not in ("metric", "param", "tag")]
    none: dict = {}
    values = {}
    for run in runs:
        pk, inputs = run.pk, run.params or none
        summaries, run_logged, run_tags = metrics.get(pk, none), logged.get(pk, none), tags.get(pk, none)
        row: dict[str, object] = {}
        for name, key, i in metric_cols:
            summary = summaries.get(key)
            row[name] = None if summary is None else summary[i]
        for name, key in param_cols:
            row[name] = inputs[key] if key in inputs else run_logged[key][0] if key in run_logged else None
        for name, key in tag_cols:
            row[name] = run_tags[key][0] if key in run_tags else None
        for name, kind in plain_cols:
            row[name] = plain_value(run, kind)
        values[pk] = {name: row[name] for name in fields}  # in the columns' order
    return values, keys


def _fetch(model, ids: list[int], keys: set[str], every: bool, columns: tuple[str, ...]) -> dict[int, dict[str, tuple]]:
    if not ids or not (keys or every):
        return {}
    # One array parameter for the ids, not a placeholder each (1,000 of them took longer to
    # bind and plan than to run).
    q = connection.ops.quote_name
    where = "run_id = ANY(%s)" if connection.vendor == "postgresql" else f"run_id IN ({', '.join(['%s'] * len(ids))})"
    args: list = [ids] if connection.vendor == "postgresql" else list(ids)
    if not every:
        where += f" AND {q('key')} IN ({', '.join(['%s'] * len(keys))})"
        args += sorted(keys)
    sql = f"SELECT run_id, {q('key')}, {', '.join(q(c) for c in columns)} FROM {q(model._meta.db_table)} WHERE {where}"
    out: dict[int, dict[str, tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        for run_id, key, *vals in cursor.fetchall():
            out.setdefault(run_id, {})[key] = tuple(vals)
    return out


def plain_value(run: RunRow | Run, kind: str) -> object:
    version = run.asset_version
    return {
        "id": lambda: run.pk, "name": lambda: run.name, "status": lambda: run.status,
        "workflow": lambda: version.asset.full_name if version else None,
        "version": lambda: version.version if version else None,
        "experiment": lambda: run.experiment.name if run.experiment_id else None,
        "user": lambda: run.created_by.username, "created": lambda: run.created_at,
        "started": lambda: run.started_at, "duration": lambda: run.duration_s,
    }[kind]()


def run_export_rows(
    *, user: AbstractBaseUser | AnonymousUser, columns: Sequence[str], q: str = "", sort: str = "",
    workflow: str | None = None, experiment: str | None = None, status: str | None = None, chunk: int = 1000,
) -> tuple[list[str], Iterator[list[object]]]:
    """The header and the rows (id first, then each column) of the whole selection, read in
    chunks through one server-side cursor. Wildcards expand to every key in the selection."""
    selection = run_selection(user=user, q=q, sort=sort, workflow=workflow, experiment=experiment, status=status)
    matching, ordered = selection.matching, selection.ordered
    expanded: list[str] = []
    for name in columns:
        if name in WILDCARDS:
            kind = WILDCARDS[name]
            found = _selection_keys(matching, kind)
            expanded += [f"{kind}s.{k}" for k in found if f"{kind}s.{k}" not in expanded]
        elif name not in expanded:
            expanded.append(name)
    header = ["id", *[c for c in expanded if c != "id"]]

    def rows() -> Iterator[list[object]]:
        batch: list[RunRow] = []
        for run in run_rows_iter(ordered, chunk=chunk):
            batch.append(run)
            if len(batch) == chunk:
                yield from _rows(batch, header)
                batch = []
        yield from _rows(batch, header)

    return header, rows()


def _rows(batch: list[RunRow], header: list[str]) -> Iterator[list[object]]:
    if not batch:
        return
    values, _ = column_values(batch, header[1:])
    for run in batch:
        yield [run.pk, *[values[run.pk].get(c) for c in header[1:]]]


def _selection_keys(runs: QuerySet[Run], kind: str) -> list[str]:
    if kind == "param":
        logged = set(RunParam.objects.filter(run__in=runs.values("pk")).values_list("key", flat=True).distinct())
        inputs = {k for params in runs.values_list("params", flat=True).iterator(chunk_size=2000) for k in (params or {})}
        return sorted(logged | inputs)
    model = MetricSummary if kind == "metric" else RunTag
    return sorted(set(model.objects.filter(run__in=runs.values("pk")).values_list("key", flat=True).distinct()))
