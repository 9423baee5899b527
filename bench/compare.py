"""How fast the compare page gets its data: 100 runs x 5 metrics x 10,000 steps.

    python bench/compare.py              # 100 runs x 5 metrics x 10,000 steps (5 M points)
    python bench/compare.py --quick      # 20 runs x 5 metrics x 2,000 steps
    python bench/compare.py --no-mlflow  # without the peer

It needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), where
it creates the scratch database ``flowdeck_bench_compare``, migrates it and refills it with COPY
on every run: N tracked runs the comparer may see (10 params, 2 tags, 5 metrics of S steps each,
with their summaries, as ingest leaves them) and 10 in a namespace they cannot see, whose ids
are in the request too (they must drop out; with them the request holds 110 ids, so it passes
``sample=100``, which charts all 100 visible runs).

Measured, each the median of ``--repeat`` timed calls:
- ``GET /api/v1/compare?runs=<all>`` through Django's test Client, in-process (routing, auth,
  the permission filter and the JSON included): the whole compare page's data, i.e. the runs,
  the params/tags/version diff, every key's last/best/min/max, the gate table, the artifact list
  and every series downsampled for the charts. Cold: the first open, when no series of these
  runs has been sampled before (the sample cache is emptied before each call); warm: opened
  again (finished runs' samples are kept, see compare/series.py);
- the same with ``at=step&step=S/2`` (every run's value at a chosen step, read from the points);
- what a worker does when each run ends (``compare.series.series_warm``: its 5 keys sampled at
  the 3 sizes the page uses), per run, and the compare data after that: the first open of a
  comparison of runs that ended normally.

The peer is MLflow: what its UI's compare view needs is each run's history of each metric,
``MlflowClient.get_metric_history(run, key)`` for every run and key, against a stock MLflow
server on the same PostgreSQL (bench/.venv-mlflow, as bench/tracking.py). Loading 5 M points
into MLflow at its ~3,800 points/s would take over 20 minutes, so the peer is measured on
``--mlflow-runs`` runs (default 4) of the same shape and its time scaled to N runs (linear:
one call per run and key); the table says so.

Prints a table, then one JSON object with every figure as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import admin_database_url, django_in_process, ensure_databases, libpq, log, machine, seed_namespaces, with_database

REPO = Path(__file__).resolve().parent.parent
# This file is bench/compare.py and the app is compare/: the repository must come before
# bench/ on the path, or "import compare.models" would find this script.
sys.path.insert(0, str(REPO))
sys.modules.pop("compare", None)
BENCH_DB = "flowdeck_bench_compare"
MLFLOW_DB = "mlflow_bench_compare"
METRICS = ["accuracy", "loss", "f1", "precision", "recall"]
PARAMS = ["lr", "batch_size", "epochs", "optimizer", "dropout", "weight_decay", "momentum", "seed", "layers", "model"]
HIDDEN = 10


def curve(rng: random.Random, key: str, steps: int) -> list[float]:
    """A noisy training curve: a loss that falls, the others rising towards a plateau."""
    top = rng.uniform(0.7, 0.98)
    rate = rng.uniform(2, 8) / steps
    out = []
    for s in range(steps):
        base = top * (1 - pow(2.718281828, -rate * s))
        value = (1.5 - base) if key == "loss" else base
        out.append(value + rng.gauss(0, 0.01))
    return out


CHUNK = 1000  # points per stored chunk, as the SDK's batches of 1,000


def seed(n: int, steps: int):
    """Refill the scratch database; returns (the comparer, the run ids to compare)."""
    from django.db import connection

    from compare.models import SeriesSample
    from runs.models import MetricChunk, MetricSummary, Run, RunParam, RunTag

    rng = random.Random(11)
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute(f"TRUNCATE {Run._meta.db_table}, {MetricChunk._meta.db_table}, {SeriesSample._meta.db_table} CASCADE")
    user, other, team, hidden, exp, hidden_exp = seed_namespaces("bench-comparer", "bench-stranger")

    total = n + HIDDEN
    now = datetime.now(timezone.utc)
    summary_cols = [f.column for f in MetricSummary._meta.concrete_fields if f.column != "id"]
    with connection.cursor() as c:
        raw = c.cursor
        with raw.copy(f"COPY {Run._meta.db_table} (id, name, namespace_id, created_by_id, experiment_id, params, "
                      "status, error, created_at, started_at, finished_at) FROM STDIN") as copy:
            for i in range(1, total + 1):
                visible = i <= n
                started = now - timedelta(hours=total - i)
                copy.write_row((i, f"run-{i}", team.pk if visible else hidden.pk, user.pk if visible else other.pk,
                                exp.pk if visible else hidden_exp.pk, "{}", "succeeded", "", started, started,
                                started + timedelta(minutes=30)))
        with raw.copy(f"COPY {RunParam._meta.db_table} (run_id, key, value) FROM STDIN") as copy:
            for i in range(1, total + 1):
                values = {"lr": round(10 ** rng.uniform(-4, -1), 6), "batch_size": rng.choice([32, 64, 128]),
                          "epochs": 10, "optimizer": rng.choice(["adam", "sgd"]), "dropout": 0.1,
                          "weight_decay": 0.0001, "momentum": 0.9, "seed": i, "layers": rng.choice([12, 24]),
                          "model": "resnet50"}
                for key, value in values.items():
                    copy.write_row((i, key, str(value)))
        with raw.copy(f"COPY {RunTag._meta.db_table} (run_id, key, value) FROM STDIN") as copy:
            for i in range(1, total + 1):
                copy.write_row((i, "team", "cv"))
                copy.write_row((i, "host", f"gpu-{i % 8}"))
        summaries = []
        # As the SDK's 1,000-point batches store them: a chunk row of arrays per key and batch.
        with raw.copy(f'COPY {MetricChunk._meta.db_table} (run_id, key, step_min, step_max, steps, "values", '
                      f"timestamps) FROM STDIN") as copy:
            for i in range(1, total + 1):
                start_ms = int((now - timedelta(hours=total - i)).timestamp() * 1000)
                for key in METRICS:
                    values = curve(rng, key, steps)
                    for first in range(0, steps, CHUNK):
                        part = range(first, min(first + CHUNK, steps))
                        copy.write_row((i, key, part[0], part[-1], list(part), values[part[0]:part[-1] + 1],
                                        [start_ms + s * 180 for s in part]))
                    lo, hi = min(values), max(values)
                    summaries.append({"run_id": i, "key": key, "last": values[-1], "last_step": steps - 1,
                                      "min": lo, "max": hi, "min_step": values.index(lo), "max_step": values.index(hi),
                                      "count": steps})
        with raw.copy(f"COPY {MetricSummary._meta.db_table} ({', '.join(summary_cols)}) FROM STDIN") as copy:
            for row in summaries:
                copy.write_row(tuple(row[c] for c in summary_cols))
        c.execute(f"SELECT setval(pg_get_serial_sequence('{Run._meta.db_table}', 'id'), {total})")
        c.execute("ANALYZE")
    log(f"seeded {total} runs ({n} visible) x {len(METRICS)} metrics x {steps:,} steps "
        f"({total * len(METRICS) * steps:,} points) in {time.perf_counter() - t0:.1f} s")
    return user, list(range(1, total + 1))


def timed(fn, repeat: int, before=None) -> list[float]:
    out = []
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


# --- the peer -------------------------------------------------------------------------------------
MLFLOW_SCRIPT = r"""
import json, sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
url, runs, steps, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
client = MlflowClient(url)
exp = client.create_experiment(f"compare-{time.time_ns()}")
ids = []
for r in range(runs):
    run = client.create_run(exp)
    ids.append(run.info.run_id)
    ts = int(time.time() * 1000)
    for key in keys:
        points = [Metric(key, 0.5 + s * 1e-6, ts + s, s) for s in range(steps)]
        for i in range(0, steps, 1000):
            client.log_batch(run.info.run_id, metrics=points[i:i + 1000])
times = []
for _ in range(int(sys.argv[5])):
    t0 = time.perf_counter()
    n = 0
    for run_id in ids:
        for key in keys:
            n += len(client.get_metric_history(run_id, key))
    times.append(time.perf_counter() - t0)
    assert n == runs * len(keys) * steps, n
print(json.dumps({"times_s": times}))
"""


def bench_mlflow(admin_url: str, runs: int, steps: int, repeat: int) -> dict:
    import subprocess

    from sdk_ingest import mlflow_python, mlflow_server

    python, why = mlflow_python()
    if python is None:
        return {"skipped": why}
    ensure_databases(admin_url, [MLFLOW_DB])
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        url, why = mlflow_server(python, admin_url, MLFLOW_DB, Path(tmp), stack)
        if url is None:
            return {"skipped": why}
        log(f"MLflow: logging {runs} runs x {len(METRICS)} x {steps:,} steps, then get_metric_history for each")
        out = subprocess.run([str(python), "-c", MLFLOW_SCRIPT, url, str(runs), str(steps), ",".join(METRICS),
                              str(repeat)], capture_output=True, text=True, timeout=3600)
        if out.returncode != 0:
            return {"skipped": f"the MLflow client failed: {out.stderr[-500:]}"}
        return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 runs x 2,000 steps instead of 100 x 10,000")
    parser.add_argument("--runs", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-seed", action="store_true", help="reuse the previous run's data")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--mlflow-runs", type=int, default=4, help="runs MLflow is measured on (scaled to N)")
    args = parser.parse_args(argv)
    n = args.runs or (20 if args.quick else 100)
    steps = args.steps or (2_000 if args.quick else 10_000)

    admin_url = admin_database_url()
    ensure_databases(admin_url, [BENCH_DB])
    db_url = with_database(admin_url, BENCH_DB)
    django_in_process(db_url, BENCH_DB)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from compare.models import SeriesSample
    from compare.series import series_warm

    if args.no_seed:
        user, ids = get_user_model().objects.get(username="bench-comparer"), list(range(1, n + HIDDEN + 1))
    else:
        user, ids = seed(n, steps)
    client = Client()
    client.force_login(user)
    # 100 runs plus the 10 hidden ones is more than 100 ids: sample=100 lets the request hold
    # them (the charts then cover every visible run, as there are 100).
    runs_param = ",".join(str(i) for i in ids) + (f"&sample={n}" if len(ids) > 100 else "")

    def fetch(extra: str = "") -> dict:
        response = client.get(f"/api/v1/compare?runs={runs_param}{extra}")
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/v1/compare answered {response.status_code}: {response.content[:300]!r}")
        return response

    def forget() -> None:
        SeriesSample.objects.all().delete()

    import psycopg

    with psycopg.connect(libpq(db_url)) as conn:
        where = machine(conn.execute("SHOW server_version").fetchone()[0])

    body = json.loads(fetch().content)
    assert [r["id"] for r in body["runs"]] == ids[:n], "hidden runs must drop out"
    points = sum(len(s["step"]) for per_key in body["series"].values() for s in per_key)
    size_mb = len(fetch().content) / 1e6
    load_before = load_average()
    cold = timed(fetch, max(3, args.repeat // 2), before=forget)
    fetch()
    warm = timed(fetch, args.repeat)
    at_step = timed(lambda: fetch(f"&at=step&step={steps // 2}"), args.repeat)
    # What a worker does when each run ends: sample its 5 keys at the 3 sizes.
    forget()
    t0 = time.perf_counter()
    made = sum(series_warm(run_id=i) for i in ids[:n])
    warm_up_ms = (time.perf_counter() - t0) * 1000 / n
    after_warm_up = timed(fetch, args.repeat)
    load_after = load_average()

    peer = {"skipped": "--no-mlflow"} if args.no_mlflow else bench_mlflow(admin_url, args.mlflow_runs, steps, 3)
    peer_s = statistics.median(peer["times_s"]) if "times_s" in peer else None
    peer_scaled_ms = peer_s * 1000 * n / args.mlflow_runs if peer_s is not None else None

    print(f"\ncompare: {n} runs (+{HIDDEN} hidden in the request) x {len(METRICS)} metrics x {steps:,} steps; "
          f"{points:,} chart points sent ({size_mb:.1f} MB of JSON)\n({where}; load average {load_before} "
          f"before, {load_after} after)\n")
    header = f"{'what':<58} {'p50 ms':>10} {'target':>10}"
    print(header)
    print("-" * len(header))
    print(f"{'GET /api/v1/compare, warm (samples kept)':<58} {statistics.median(warm):>10.1f} {'<= 300':>10}")
    print(f"{'GET /api/v1/compare, cold (first open: every series sampled)':<58} {statistics.median(cold):>10.1f}")
    print(f"{'GET /api/v1/compare&at=step (values at a chosen step), warm':<58} {statistics.median(at_step):>10.1f}")
    print(f"{'GET /api/v1/compare after the runs ended (worker warm-up)':<58} {statistics.median(after_warm_up):>10.1f} {'<= 300':>10}")
    print(f"{'  the warm-up itself, per run (' + str(made // n) + ' samples), on the worker':<58} {warm_up_ms:>10.1f}")
    if peer_s is not None:
        print(f"{'MLflow get_metric_history per run and key, ' + str(args.mlflow_runs) + ' runs':<58} {peer_s * 1000:>10.1f}")
        print(f"{'MLflow, scaled to ' + str(n) + ' runs':<58} {peer_scaled_ms:>10.1f}")
    else:
        print(f"MLflow: {peer.get('skipped')}")
    result = {
        "bench": "compare", "runs": n, "metrics": len(METRICS), "steps": steps, "chart_points": points,
        "json_mb": round(size_mb, 2), "warm_p50_ms": round(statistics.median(warm), 1),
        "cold_p50_ms": round(statistics.median(cold), 1), "at_step_warm_p50_ms": round(statistics.median(at_step), 1),
        "after_run_end_warm_up_p50_ms": round(statistics.median(after_warm_up), 1),
        "warm_up_per_run_ms": round(warm_up_ms, 1),
        "mlflow_runs_measured": args.mlflow_runs if peer_s is not None else None,
        "mlflow_history_ms": round(peer_s * 1000, 1) if peer_s is not None else None,
        "mlflow_history_scaled_ms": round(peer_scaled_ms, 1) if peer_scaled_ms is not None else None,
        "load_average": [load_before, load_after], "machine": where,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
