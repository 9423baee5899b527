"""How fast the gallery search answers on a large gallery, next to a naive ILIKE scan.

    python bench/gallery_search.py            # 10,000 assets
    python bench/gallery_search.py --quick    # 1,000 assets

It needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
where it creates the scratch database ``flowdeck_bench_gallery`` if missing, migrates it, and
refills it on every run (its assets are truncated first): N public, team and private assets
in 40 namespaces, each with one AssetVersion set as its latest (README of 0.5-3 KB, a fake
bundle digest: nothing is downloaded), 1-4 tags and a few subscriptions, all made with
``bulk_create`` from a fixed random seed.

Measured for ~50 queries (single words common and rare, two words, tag filters with and
without words, every sort, browsing with no query, queries with no results), each as the
gallery page evaluates its first page: ``list(qs[:24])`` then ``qs.count()``:
- Flowdeck: ``gallery.selectors.gallery_search(...)`` for a logged-in user (whatever the
  selector does: icontains today, maybe full-text search tomorrow);
- Flowdeck API: ``GET /api/v1/workflows?q=...&limit=24`` through Django's test Client,
  in-process (no network, but routing, auth, serialization and pagination included);
- peer (the floor): one hand-written SQL query per page over the same rows with psycopg,
  ``ILIKE '%word%'`` on name, description, README and namespace for every word, the same
  visibility rule, tag filter and order, ``LIMIT 24``, then the same WHERE with ``count(*)``.

After a warm-up on three queries, each query runs up to ``--repeat`` times (default 5) per
method, fewer once ``--budget`` seconds (default 1) are spent on it, so an unindexed search on
10,000 assets still finishes in minutes. Prints a table (p50 and p95 in ms over the queries'
medians, so each query weighs the same; then p50 per kind of query), then one JSON object
with every figure as the last line.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _common import admin_database_url, django_in_process, ensure_databases, libpq, log, machine, percentile, with_database

REPO = Path(__file__).resolve().parent.parent
BENCH_DB = "flowdeck_bench_gallery"
PAGE = 24
N_NAMESPACES = 40
N_SUBSCRIBERS = 30

TOPICS = [
    "churn", "fraud", "image", "resize", "sentiment", "forecast", "sales", "embedding", "tokenizer",
    "anomaly", "ranking", "etl", "cleaning", "validation", "segmentation", "translation", "speech",
    "recommendation", "clustering", "regression", "classifier", "pricing", "inventory", "demand",
    "vision", "ocr", "summarize", "retrieval", "finetune", "distill", "quantize", "benchmark",
]
KINDS = ["train", "eval", "pipeline", "predict", "report", "export", "prep", "serve", "tune", "monitor"]
WORDS = [
    "model", "data", "dataset", "features", "pipeline", "training", "evaluation", "metrics", "loss",
    "accuracy", "gradient", "batch", "epoch", "schema", "parquet", "csv", "bucket", "warehouse",
    "customer", "transaction", "signal", "window", "rolling", "daily", "hourly", "baseline", "robust",
    "fast", "simple", "experimental", "production", "weekly", "report", "dashboard", "drift", "label",
    "sample", "holdout", "split", "cross", "boosting", "forest", "linear", "logistic", "transformer",
    "attention", "kernel", "sparse", "dense", "cache", "snapshot", "artifact", "checkpoint", "export",
]
TAGS = ["nlp", "cv", "tabular", "timeseries", "audio", "etl", "demo", "production", "research",
        "pytorch", "sklearn", "xgboost", "llm", "finance", "retail", "health"]

# (label, kind, gallery_search kwargs). Kinds group the table rows.
QUERIES: list[tuple[str, dict[str, Any]]] = (
    [("word", {"q": w}) for w in ["churn", "fraud", "model", "pipeline", "forecast", "embedding", "drift",
                                  "transformer", "sales", "vision", "ocr", "customer", "baseline",
                                  "parquet", "quantize", "report", "kernel", "holdout", "ns07", "train"]]
    + [("two words", {"q": q}) for q in ["churn model", "fraud detection", "image resize", "sales forecast",
                                         "customer churn", "data validation", "daily report",
                                         "rolling window", "gradient boosting", "sentiment transformer"]]
    + [("tag", {"tag": t}) for t in ["nlp", "cv", "tabular", "timeseries", "finance"]]
    + [("tag + word", {"q": q, "tag": t}) for q, t in [("churn", "tabular"), ("model", "nlp"),
                                                       ("forecast", "timeseries"), ("image", "cv"),
                                                       ("report", "finance")]]
    + [("sort", {"q": q, "sort": s}) for q, s in [("", "subscribers"), ("", "name"), ("", "updated"),
                                                  ("model", "subscribers"), ("model", "name"),
                                                  ("pipeline", "subscribers"), ("pricing", "name")]]
    + [("no results", {"q": q}) for q in ["zzqxjv", "flibbertigibbet model"]]
)


# --- data -----------------------------------------------------------------------------------------
def sentence(rng: random.Random, topic: str, n: int) -> str:
    words = rng.sample(WORDS, n) + [topic]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def readme(rng: random.Random, name: str, topic: str) -> str:
    parts = [f"# {name}\n"]
    target = rng.randint(500, 3000)
    size = len(parts[0])
    while size < target:
        para = " ".join(sentence(rng, rng.choice([topic, *TOPICS]), rng.randint(6, 12)) for _ in range(rng.randint(2, 5)))
        if rng.random() < 0.3:
            para = f"## {rng.choice(WORDS).capitalize()}\n\n{para}\n\n```python\nwf.run(params={{'{rng.choice(WORDS)}': {rng.randint(1, 99)}}})\n```"
        parts.append(para)
        size += len(para)
    return "\n\n".join(parts)


def seed(n: int) -> Any:
    """Refill the scratch database with ``n`` assets; returns the user who searches."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.models import Membership, Team
    from gallery.models import Subscription
    from registry.models import Asset, AssetVersion

    User = get_user_model()
    rng = random.Random(42)
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Asset._meta.db_table}, {AssetVersion._meta.db_table} CASCADE")
        owner, _ = User.objects.get_or_create(username="bench-owner")
        searcher, _ = User.objects.get_or_create(username="bench-searcher")
        teams = [Team.objects.get_or_create(slug=f"ns{i:02d}", defaults={"display_name": f"Namespace {i}"})[0]
                 for i in range(N_NAMESPACES)]
        for team in teams[:3]:  # the searcher also sees these namespaces' team and private assets
            Membership.objects.get_or_create(team=team, user=searcher)
        subscribers = [User.objects.get_or_create(username=f"bench-sub-{i:02d}")[0] for i in range(N_SUBSCRIBERS)]

        assets, topics = [], []
        for i in range(n):
            topic = rng.choice(TOPICS)
            kind = rng.choice(KINDS)
            name = f"{topic}-{kind}-{i}" if rng.random() < 0.7 else f"{rng.choice(WORDS)}-{kind}-{i}"
            visibility = rng.choices(["public", "team", "private"], weights=[85, 10, 5])[0]
            tags = sorted(set(rng.sample(TAGS, rng.randint(1, 4))))
            assets.append(Asset(namespace=teams[i % N_NAMESPACES], name=name, description=sentence(rng, topic, rng.randint(5, 14)),
                                tags=tags, visibility=visibility, created_by=owner))
            topics.append(topic)
        Asset.objects.bulk_create(assets, batch_size=2000)
        versions = []
        for asset, topic in zip(assets, topics):
            major, minor, patch = rng.randint(0, 3), rng.randint(0, 9), rng.randint(0, 20)
            versions.append(AssetVersion(
                asset=asset, version=f"{major}.{minor}.{patch}", major=major, minor=minor, patch=patch,
                spec={"schema_version": 1, "name": asset.name, "params": [], "steps": []},
                bundle_digest=f"{rng.getrandbits(256):064x}", bundle_size=rng.randint(1_000, 500_000),
                readme=readme(rng, asset.name, topic), published_by=owner,
            ))
        AssetVersion.objects.bulk_create(versions, batch_size=2000)
        subs = {(rng.choice(subscribers).pk, rng.choice(assets).pk) for _ in range(n // 2)}
        Subscription.objects.bulk_create([Subscription(user_id=u, asset_id=a) for u, a in subs], batch_size=5000)
        with connection.cursor() as cursor:
            # Latest version, and spread updated_at over a year so "updated" has something to sort.
            cursor.execute(
                f"UPDATE {Asset._meta.db_table} a SET latest_version_id = v.id, "
                f"updated_at = now() - (a.id % 8760) * interval '1 hour' "
                f"FROM {AssetVersion._meta.db_table} v WHERE v.asset_id = a.id"
            )
        # bulk_create skips the publish service, which keeps each asset's search document.
        from gallery.search import search_documents_refresh

        search_documents_refresh()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"seeded {n:,} assets, {len(versions):,} versions, {len(subs):,} subscriptions in {time.perf_counter() - t0:.1f} s")
    return searcher


# --- the three ways to answer a page --------------------------------------------------------------
def time_selector(user, params: dict[str, Any]) -> tuple[float, int]:
    from gallery.selectors import gallery_search

    t0 = time.perf_counter()
    qs = gallery_search(user=user, **params)
    list(qs[:PAGE])
    count = qs.count()
    return time.perf_counter() - t0, count


def time_api(client, params: dict[str, Any]) -> tuple[float, int]:
    t0 = time.perf_counter()
    response = client.get(f"/api/v1/workflows?{urlencode({**params, 'limit': PAGE})}")
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"GET /api/v1/workflows answered {response.status_code}: {response.content[:300]!r}")
    return elapsed, response.json()["count"]


ORDER_SQL = {
    "subscribers": "n_subscribers DESC, a.name",
    "name": "t.slug, a.name",
    "updated": "a.updated_at DESC",
}


def ilike_sql(params: dict[str, Any], member_team_ids: list[int]) -> tuple[str, str, list[Any]]:
    """The naive page: every word must ILIKE-match name, description, README or namespace."""
    where = ["a.latest_version_id IS NOT NULL", "(a.visibility = 'public' OR a.namespace_id = ANY(%s))"]
    args: list[Any] = [member_team_ids]
    for word in (params.get("q") or "").split():
        where.append("(a.name ILIKE %s OR a.description ILIKE %s OR v.readme ILIKE %s OR t.slug ILIKE %s)")
        args += [f"%{word}%"] * 4
    if params.get("tag"):
        where.append("a.tags @> %s::jsonb")
        args.append(json.dumps([params["tag"].lower()]))
    base = (" FROM registry_asset a JOIN registry_assetversion v ON v.id = a.latest_version_id"
            " JOIN accounts_team t ON t.id = a.namespace_id WHERE " + " AND ".join(where))
    sort = params.get("sort") or "updated"
    subscribers = ("(SELECT count(*) FROM gallery_subscription s WHERE s.asset_id = a.id)"
                   if sort == "subscribers" else "0")
    page = (f"SELECT a.id, a.name, a.description, a.tags, t.slug, v.version, {subscribers} AS n_subscribers"
            f"{base} ORDER BY {ORDER_SQL[sort]} LIMIT {PAGE}")
    return page, f"SELECT count(*){base}", args


def time_ilike(conn, params: dict[str, Any], member_team_ids: list[int]) -> tuple[float, int]:
    page, count, args = ilike_sql(params, member_team_ids)
    t0 = time.perf_counter()
    conn.execute(page, args).fetchall()
    total = conn.execute(count, args).fetchone()[0]
    return time.perf_counter() - t0, total


# --- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 assets instead of 10,000")
    parser.add_argument("--assets", type=int, help="number of assets (overrides --quick)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query (default 5)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds per query and method after which no further run starts (default 1.0)")
    args = parser.parse_args(argv)
    n = args.assets or (1_000 if args.quick else 10_000)

    admin_url = admin_database_url()
    ensure_databases(admin_url, [BENCH_DB])
    db_url = with_database(admin_url, BENCH_DB)
    django_in_process(db_url, BENCH_DB)
    from django.test import Client

    from accounts.models import Membership

    searcher = seed(n)
    member_team_ids = list(Membership.objects.filter(user=searcher).values_list("team_id", flat=True))
    client = Client()
    client.force_login(searcher)

    import psycopg

    samples: dict[str, list[float]] = {"selector": [], "api": [], "ilike": []}  # one median per query
    n_timed = {"selector": 0, "api": 0, "ilike": 0}
    by_kind: dict[str, dict[str, list[float]]] = {}
    counts: list[tuple[str, int, int]] = []
    t_start = time.perf_counter()
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        where = machine(conn.execute("SHOW server_version").fetchone()[0])
        for kind, params in QUERIES[:3]:  # warm-up: connections, caches, the first request
            time_selector(searcher, params), time_api(client, params), time_ilike(conn, params, member_team_ids)
        for kind, params in QUERIES:
            fns = {
                "selector": lambda: time_selector(searcher, params),
                "api": lambda: time_api(client, params),
                "ilike": lambda: time_ilike(conn, params, member_team_ids),
            }
            found: dict[str, int] = {}
            for name, fn in fns.items():
                timed: list[float] = []
                # Up to --repeat runs, fewer once --budget is spent: a slow query still
                # gets one sample per run without making the bench take an hour.
                spent, runs = 0.0, 0
                while runs < args.repeat and (runs == 0 or spent < args.budget):
                    seconds, found[name] = fn()
                    timed.append(seconds * 1000)
                    spent, runs = spent + seconds, runs + 1
                samples[name].append(statistics.median(timed))
                by_kind.setdefault(kind, {}).setdefault(name, []).append(statistics.median(timed))
                n_timed[name] += len(timed)
            counts.append((json.dumps(params), found["selector"], found["ilike"]))
    elapsed = time.perf_counter() - t_start

    def p(name: str, q: float, source: dict[str, list[float]] = samples) -> float:
        return round(percentile(source[name], q), 2)

    labels = {"selector": "Flowdeck gallery_search (first page + count)",
              "api": "Flowdeck GET /api/v1/workflows (test Client)",
              "ilike": "peer: naive ILIKE '%word%' SQL (psycopg)"}
    print(f"\ngallery_search: {n:,} assets, {len(QUERIES)} queries x up to {args.repeat} runs each "
          f"({n_timed['selector']} timed selector pages), page of {PAGE} + count, {elapsed:.0f} s\n({where})\n")
    header = f"{'how':<48} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"
    print(header)
    print("-" * len(header))
    for name in ("selector", "api", "ilike"):
        print(f"{labels[name]:<48} {p(name, 50):>9.2f} {p(name, 95):>9.2f} {max(samples[name]):>9.2f}")
    print(f"\n{'query kind':<14} {'n':>3} {'selector p50':>13} {'api p50':>9} {'ILIKE p50':>10}")
    for kind, per in by_kind.items():
        nq = sum(1 for k, _ in QUERIES if k == kind)
        print(f"{kind:<14} {nq:>3} {p('selector', 50, per):>13.2f} {p('api', 50, per):>9.2f} {p('ilike', 50, per):>10.2f}")
    same = sum(1 for _, ours, peer in counts if ours == peer)
    print(f"\nMatches per query: the selector and the ILIKE peer found the same count for {same} of {len(counts)} queries.")
    for params, ours, peer in counts:
        if ours != peer:
            print(f"  {params}: selector {ours}, ILIKE {peer}")

    result = {
        "bench": "gallery_search",
        "assets": n,
        "queries": len(QUERIES),
        "repeat": args.repeat,
        "timed_pages": n_timed,
        "flowdeck_selector_p50_ms": p("selector", 50),
        "flowdeck_selector_p95_ms": p("selector", 95),
        "flowdeck_api_p50_ms": p("api", 50),
        "flowdeck_api_p95_ms": p("api", 95),
        "ilike_p50_ms": p("ilike", 50),
        "ilike_p95_ms": p("ilike", 95),
        "same_counts": same,
        "machine": where,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
