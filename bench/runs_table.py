"""How fast the runs table answers over 100,000 runs: filtered, metric-sorted first pages, and
1,000 runs with all their params and metrics.

    python bench/runs_table.py                 # 100,000 runs
    python bench/runs_table.py --quick         # 10,000 runs
    python bench/runs_table.py --explain       # also print EXPLAIN ANALYZE of each query

It needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), where
it creates the scratch database ``flowdeck_bench_runs`` if missing, migrates it and refills it
on every run with COPY: N tracked runs in one experiment of the team ``bench`` (the user who
lists is a member) plus N/10 runs in a namespace they cannot see, each with 10 params (logged
params, ``RunParam``, as the SDK and MLflow log them; ``--params json`` puts them in
``Run.params`` as a workflow run has them), 5 metric summaries and 2 tags, from a fixed seed.

Measured, each repeated ``--repeat`` times after a warm-up:
- for several filtered, metric-sorted queries, through Django's test Client (in-process:
  routing, auth and serialization included): the first page (50) alone, ``GET /api/v1/runs?
  count=false``, which is what the web page waits for; its count alone, ``GET /api/v1/runs/
  count`` (exact up to 10,000), which the web page asks for once it is shown; both, ``GET
  /api/v1/runs`` as an API client gets it by default; and the web page ``GET /runs/``;
- ``GET /api/v1/runs?limit=1000&columns=params.*,metrics.*``: 1,000 runs with 10 params and
  5 metrics each.

The peer figure for the second, MLflow's ``search_runs`` of 1,000 runs with 10 params and 5
metrics (about 1.7 s on this machine, from the issue), is quoted, not re-measured here.
Prints a table, then one JSON object with every figure as the last line.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import admin_database_url, django_in_process, ensure_databases, libpq, log, machine, percentile, seed_namespaces, with_database

REPO = Path(__file__).resolve().parent.parent
BENCH_DB = "flowdeck_bench_runs"
PAGE = 50
PARAMS = ["lr", "batch_size", "epochs", "optimizer", "dropout", "weight_decay", "momentum", "seed", "layers", "model"]
METRICS = ["accuracy", "loss", "f1", "precision", "recall"]
MLFLOW_1000_RUNS_S = 1.7  # from the issue, the stock MLflow server on this machine

QUERIES = [
    ("metrics.accuracy >= 0.9 and params.lr > 0.01", "-metrics.accuracy"),
    ("tags.team = 'cv' and status = succeeded", "-metrics.accuracy.max"),
    ("params.optimizer = adam and metrics.loss < 0.5", "metrics.loss"),
    ("metrics.f1 > 0.5 and metrics.recall > 0.5", "-metrics.f1"),
    ("", "-metrics.accuracy"),
    ("status = failed", ""),
    ("params.lr > 0.05 or tags.team = nlp", "-created"),
    ("metrics.accuracy > 0.99", "-metrics.accuracy"),
]


# --- data -----------------------------------------------------------------------------------------
def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(n: int, params_in: str):
    """Refill the scratch database; returns the user who lists."""
    from django.db import connection

    from runs.models import MetricSummary, Run, RunParam, RunTag
    from runs.numbers import text_number  # as log_batch writes it

    rng = random.Random(7)
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {Run._meta.db_table} CASCADE")
    lister, other, team, hidden, exp, hidden_exp = seed_namespaces("bench-lister", "bench-other")

    total = n + n // 10
    now = datetime.now(timezone.utc)
    runs, params, summaries, tags = [], [], [], []
    metric_fields = [f.column for f in MetricSummary._meta.concrete_fields if f.column not in ("id",)]
    for i in range(1, total + 1):
        visible = i <= n
        started = now - timedelta(seconds=(total - i) * 30)
        status = rng.choices(["succeeded", "failed", "running"], weights=[85, 10, 5])[0]
        finished = started + timedelta(seconds=rng.randint(30, 7200)) if status != "running" else None
        values = {
            "lr": round(10 ** rng.uniform(-4, -0.5), 6), "batch_size": rng.choice([16, 32, 64, 128, 256]),
            "epochs": rng.randint(1, 100), "optimizer": rng.choice(["adam", "sgd", "adamw", "rmsprop"]),
            "dropout": round(rng.uniform(0, 0.5), 3), "weight_decay": round(10 ** rng.uniform(-6, -2), 8),
            "momentum": round(rng.uniform(0.8, 0.99), 3), "seed": rng.randint(0, 10_000),
            "layers": rng.randint(1, 48), "model": rng.choice(["resnet18", "resnet50", "vit-b", "bert", "gbm"]),
        }
        run_params = json.dumps(values) if params_in == "json" else "{}"
        runs.append((i, f"run-{i}", team.pk if visible else hidden.pk, lister.pk if visible else other.pk, None,
                     exp.pk if visible else hidden_exp.pk, None, run_params, status, "", started, started, finished))
        if params_in != "json":
            params += [(i, key, str(value), text_number(str(value))) for key, value in values.items()]
        quality = rng.random()
        for key in METRICS:
            last = quality * 0.9 + rng.random() * 0.1 if key != "loss" else (1 - quality) * 2 + rng.random() * 0.1
            lo, hi = min(last, last * rng.uniform(0.5, 1)), max(last, last * rng.uniform(1, 1.2))
            row = {"run_id": i, "key": key, "last": last, "last_step": 99, "min": lo, "max": hi, "count": 100,
                   "min_step": rng.randint(0, 99), "max_step": rng.randint(0, 99)}
            summaries.append(tuple(row[c] for c in metric_fields))
        tags.append((i, "team", rng.choice(["cv", "nlp", "tabular", "speech"])))
        tags.append((i, "host", f"gpu-{rng.randint(1, 40)}"))
    with connection.cursor() as c:
        raw = c.cursor  # the psycopg cursor under Django's wrapper, for COPY
        _copy(raw, Run._meta.db_table, ["id", "name", "namespace_id", "created_by_id", "asset_version_id", "experiment_id",
                                        "parent_step_id", "params", "status", "error", "created_at", "started_at",
                                        "finished_at"], runs)
        _copy(raw, RunParam._meta.db_table, ["run_id", "key", "value", "value_num"], params)
        _copy(raw, MetricSummary._meta.db_table, metric_fields, summaries)
        _copy(raw, RunTag._meta.db_table, ["run_id", "key", "value"], tags)
        c.execute(f"SELECT setval(pg_get_serial_sequence('{Run._meta.db_table}', 'id'), {total})")
    # What autovacuum does to freshly loaded tables (statistics, and the visibility map that
    # lets index-only scans skip the heap); a database that grew over months has both.
    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")
    log(f"seeded {total:,} runs ({n:,} visible), {len(params):,} params, {len(summaries):,} metric summaries, "
        f"{len(tags):,} tags in {time.perf_counter() - t0:.1f} s")
    return lister


# --- measuring ------------------------------------------------------------------------------------
def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def explain(user, q: str, sort: str) -> str:
    from django.db import connection

    from django.db.models import Q
    from django.db.models.lookups import IsNull

    from runs.run_table import COUNT_CAP, run_selection

    selection = run_selection(user=user, q=q, sort=sort)
    out = io.StringIO()
    page = selection.ordered
    if selection.lead:
        expr, descending = selection.lead
        page = selection.base.filter(selection.where & Q(IsNull(expr, False))).order_by(
            expr.desc() if descending else expr.asc(), *selection.rest, "-pk")
    count = selection.matching.order_by().values("pk")[:COUNT_CAP + 1]
    for label, qs in (("page", page[:PAGE]), ("count", count)):
        sql, args = qs.query.sql_with_params()
        if label == "count":
            sql = f"SELECT count(*) FROM ({sql}) AS sub"
        with connection.cursor() as c:
            c.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", args)
            out.write(f"--- {label}: q={q!r} sort={sort!r}\n" + "\n".join(r[0] for r in c.fetchall()) + "\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs instead of 100,000")
    parser.add_argument("--runs", type=int, help="visible runs (overrides --quick)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each query (default 15)")
    parser.add_argument("--params", choices=["logged", "json"], default="logged",
                        help="where the 10 params live: RunParam rows (default) or Run.params")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each query")
    parser.add_argument("--no-seed", action="store_true", help="reuse the data of the previous run")
    args = parser.parse_args(argv)
    n = args.runs or (10_000 if args.quick else 100_000)

    admin_url = admin_database_url()
    ensure_databases(admin_url, [BENCH_DB])
    db_url = with_database(admin_url, BENCH_DB)
    django_in_process(db_url, BENCH_DB)
    from django.contrib.auth import get_user_model
    from django.test import Client


    user = get_user_model().objects.get(username="bench-lister") if args.no_seed else seed(n, args.params)
    client = Client()
    client.force_login(user)

    import psycopg

    with psycopg.connect(libpq(db_url)) as conn:
        where = machine(conn.execute("SHOW server_version").fetchone()[0])

    def get(path: str, params: dict) -> dict:
        response = client.get(path, params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
        return response.json() if path.startswith("/api/") else {}

    def api(params: dict) -> dict:
        return get("/api/v1/runs", params)

    rows = []
    timings: dict[str, list[float]] = {"page": [], "count": [], "both": [], "web": []}
    for q, sort in QUERIES:
        page = {"q": q, "sort": sort, "limit": PAGE, "columns": "metrics.*"}
        calls = {"page": lambda: api({**page, "count": "false"}), "count": lambda: get("/api/v1/runs/count", {"q": q}),
                 "both": lambda: api(page), "web": lambda: get("/runs/", {"q": q, "sort": sort})}
        for call in calls.values():
            call()  # warm-up
        medians = {}
        for name, call in calls.items():
            times = timed(call, args.repeat)
            timings[name] += times
            medians[name] = statistics.median(times)
        matches = get("/api/v1/runs/count", {"q": q})["count"]
        rows.append((q or "(none)", sort or "-created", matches, medians))
        if args.explain:
            print(explain(user, q, sort))

    wide = {"limit": 1000, "columns": "params.*,metrics.*", "experiment": "sweep"}
    body = api(wide)
    assert len(body["results"]) == 1000 and len(body["columns"]) == len(PARAMS) + len(METRICS), body["columns"]
    list_1000 = timed(lambda: api(wide), max(5, args.repeat // 2))

    print(f"\nruns_table: {n:,} visible runs (+{n // 10:,} hidden), 10 params ({args.params}), 5 metrics, 2 tags each; "
          f"first pages of {PAGE}, {args.repeat} runs per query\n({where})\n")
    print("page: GET /api/v1/runs?count=false (the page alone, what the web page waits for; metrics.* columns); "
          "count: GET /api/v1/runs/count\n(exact up to 10,000, which the web page asks for once it is shown); "
          "both: GET /api/v1/runs (the page and its count); web: GET /runs/ (the HTML page).\n")
    header = f"{'query':<48} {'sort':<22} {'matches':>8} {'page ms':>8} {'count ms':>9} {'both ms':>8} {'web ms':>7}"
    print(header)
    print("-" * len(header))
    for q, sort, count, m in rows:
        print(f"{q[:48]:<48} {sort:<22} {count:>8,} {m['page']:>8.1f} {m['count']:>9.1f} {m['both']:>8.1f} {m['web']:>7.1f}")
    print()
    for name, label in (("page", "first page, API"), ("web", "first page, web"), ("count", "count"),
                        ("both", "page and count, API")):
        target = " (target <= 50 ms)" if name in ("page", "web") else ""
        print(f"{label + ', all queries:':<34} p50 {percentile(timings[name], 50):6.1f} ms, "
              f"p95 {percentile(timings[name], 95):6.1f} ms{target}")
    print(f"GET /api/v1/runs?limit=1000&columns=params.*,metrics.*: p50 {percentile(list_1000, 50):.1f} ms, "
          f"p95 {percentile(list_1000, 95):.1f} ms (target <= 100 ms; MLflow ~{MLFLOW_1000_RUNS_S * 1000:.0f} ms)")
    result = {
        "bench": "runs_table", "runs": n, "params_in": args.params, "repeat": args.repeat,
        **{f"{name}_{p}_ms": round(percentile(times, int(p[1:])), 2) for name, times in timings.items()
           for p in ("p50", "p95")},
        "per_query_p50_ms": {f"{q} | {sort}": {k: round(v, 2) for k, v in m.items()} for q, sort, _, m in rows},
        "list_1000_api_p50_ms": round(percentile(list_1000, 50), 2),
        "list_1000_api_p95_ms": round(percentile(list_1000, 95), 2),
        "mlflow_list_1000_ms_quoted": MLFLOW_1000_RUNS_S * 1000,
        "machine": where,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
