"""Experiment tracking at scale, next to a stock MLflow server on the same PostgreSQL.

    python bench/tracking.py            # 200k ingested points, 100k-point history, 1,000 runs
    python bench/tracking.py --quick    # 20k points, 20k-point history, 200 runs
    python bench/tracking.py --no-mlflow

It starts what it needs and stops it at the end (as bench/sdk_ingest.py does): PostgreSQL from
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), where it creates the scratch
databases ``flowdeck_bench_tracking`` and ``mlflow_bench_tracking``; the Flowdeck server
(gunicorn, 2 workers, local storage in a temporary folder); and a stock MLflow tracking server (2
workers, from PyPI in ``bench/.venv-mlflow``) driven by the unmodified ``mlflow`` client.

Figures, each for both (Flowdeck through its SDK's ``Client``, MLflow through ``MlflowClient``):
- log-batch ingest, points/s, one client, 1,000-point batches, synchronous calls (Flowdeck sends
  the compact columnar form, as its SDK's background sender does); for Flowdeck also the same
  batches with 4 requests in flight from the one process, and the SDK's own path for a script,
  ``flowdeck.log_metric`` per point (its background sender batches up to 20,000 points a
  request), timed until the run has ended and everything is stored;
- one 100,000-point metric history: the whole of it as point objects (p50 of 5), and for
  Flowdeck also as columns (``?columns=1``), the chart's sample (``max_points=2000``) and the
  streamed JSON-lines export;
- listing 1,000 runs with 10 params and 5 metrics each: ``GET /api/v1/runs?experiment=..&
  columns=params.*,metrics.*&limit=1000`` (the runs table API) against ``MlflowClient.search_runs``;
- the physical floor: raw PostgreSQL COPY of the same points into the table Flowdeck stores them
  in, ``runs_metricchunk`` (a row of arrays per 1,000 points), a COPY and transaction per chunk
  and all in one COPY; and, for the layout before chunks, into a scratch table with a row per
  point, in 1,000-row COPYs and in one COPY.

The compare-page figure and the filtered list over 100,000 runs are measured by
bench/runs_table.py and the compare bench, not here.

Prints a table, then one JSON object with every figure as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from _common import admin_database_url, ensure_databases, libpq, log, machine, spawn, stop, with_database
from sdk_ingest import db_scalar, mlflow_server, free_port, mlflow_python, wait_http

REPO = Path(__file__).resolve().parent.parent
FLOWDECK_DB = "flowdeck_bench_tracking"
MLFLOW_DB = "mlflow_bench_tracking"
BATCH = 1000
IN_FLIGHT = 4
REPEATS = 5

MLFLOW_CLIENT = r"""
import json, statistics, sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

url, ingest_n, history_n, list_n, repeats = sys.argv[1], *map(int, sys.argv[2:6])
client = MlflowClient(url)
exp = client.create_experiment(f"bench-{time.time_ns()}")
out = {}

def batch_points(start, n, ts):
    return [Metric("loss", 1.0 / (i + 1), ts + i, i) for i in range(start, min(start + 1000, n))]

run = client.create_run(exp, run_name="ingest").info.run_id
ts = int(time.time() * 1000)
t0 = time.perf_counter()
for start in range(0, ingest_n, 1000):
    client.log_batch(run, metrics=batch_points(start, ingest_n, ts))
out["ingest"] = {"points": ingest_n, "seconds": time.perf_counter() - t0, "run_id": run}

run = client.create_run(exp, run_name="history").info.run_id
for start in range(0, history_n, 1000):
    client.log_batch(run, metrics=batch_points(start, history_n, ts))
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    got = client.get_metric_history(run, "loss")
    times.append(time.perf_counter() - t0)
out["history"] = {"points": len(got), "p50_s": statistics.median(times), "min_s": min(times)}

listed = client.create_experiment(f"bench-list-{time.time_ns()}")
for r in range(list_n):
    run = client.create_run(listed, run_name=f"r{r}").info.run_id
    client.log_batch(run, params=[Param(f"p{k}", str(r * k)) for k in range(10)],
                     metrics=[Metric(f"m{k}", r / (k + 1), ts, 0) for k in range(5)])
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    found = client.search_runs([listed], max_results=list_n)
    times.append(time.perf_counter() - t0)
out["list"] = {"runs": len(found), "params": len(found[0].data.params), "metrics": len(found[0].data.metrics),
               "p50_s": statistics.median(times), "min_s": min(times)}
print(json.dumps(out))
"""


def start_flowdeck(db_url: str, tmp: Path, stack: ExitStack) -> tuple[str, str]:
    env = {**os.environ, "DATABASE_URL": db_url, "FLOWDECK_STORAGE": "local", "FLOWDECK_MEDIA_ROOT": str(tmp / "storage"),
           "FLOWDECK_DATA_DIR": str(tmp / "data"), "FLOWDECK_LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"}
    env.pop("CELERY_BROKER_URL", None)  # tracked runs dispatch nothing
    log(f"migrating {FLOWDECK_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    token = subprocess.run([sys.executable, "manage.py", "bench_token"], cwd=REPO, env=env, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    log_path = tmp / "gunicorn.log"
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    proc = spawn([gunicorn, "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120"], env=env, log_path=log_path)
    stack.callback(stop, proc)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/me", proc, log_path)
    log(f"flowdeck server up at {url} (gunicorn, 2 workers)")
    return url, token


def columns(start: int, n: int, ts: int) -> dict:
    steps = list(range(start, min(start + BATCH, n)))
    return {"loss": {"step": steps, "value": [1.0 / (i + 1) for i in steps], "timestamp": [ts + i for i in steps]}}


def timed(fn, repeats: int = REPEATS) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), result


def bench_flowdeck(url: str, token: str, ingest_n: int, history_n: int, list_n: int) -> dict:
    import httpx

    from flowdeck.client import Client

    out: dict = {}
    client = Client(url, token)
    ts = int(time.time() * 1000)
    warm = client.tracked_run_create(experiment="bench-warm-up")["id"]
    for start in range(0, 5 * BATCH, BATCH):  # both gunicorn workers, connections, the experiment row
        client.log_batch(warm, metrics=columns(start, 5 * BATCH, ts), batch_id=uuid.uuid4().hex)

    run = client.tracked_run_create(experiment="bench", name="ingest")["id"]
    bodies = [columns(start, ingest_n, ts) for start in range(0, ingest_n, BATCH)]  # made before the clock starts,
    t0 = time.perf_counter()  # as MLflow's Metric objects are not (theirs is the slower side either way)
    for body in bodies:
        client.log_batch(run, metrics=body, batch_id=uuid.uuid4().hex)
    seconds = time.perf_counter() - t0
    out["ingest"] = {"points": ingest_n, "seconds": seconds, "run_id": run}

    # The same batches from one process with 4 requests in flight (a connection per thread),
    # as a client with a background sender could: what the server sustains, not one call's latency.
    run = client.tracked_run_create(experiment="bench", name="ingest-in-flight")["id"]
    clients = [Client(url, token) for _ in range(IN_FLIGHT)]
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda i: clients[i % IN_FLIGHT].log_batch(run, metrics=bodies[i], batch_id=uuid.uuid4().hex),
                      range(len(bodies))))
        seconds = time.perf_counter() - t0
    for c in clients:
        c.close()
    out["ingest_in_flight"] = {"points": ingest_n, "seconds": seconds, "run_id": run}

    # What the SDK really does for one script: log_metric per point, batched by its
    # background sender (up to 20,000 points a request), until end() has sent the last.
    import flowdeck

    saved = {k: os.environ.get(k) for k in ("FLOWDECK_URL", "FLOWDECK_TOKEN")}
    os.environ.update(FLOWDECK_URL=url, FLOWDECK_TOKEN=token)
    try:
        t0 = time.perf_counter()
        with flowdeck.start_run("bench", name="sdk-log-metric") as tracked:
            for i in range(ingest_n):
                flowdeck.log_metric("loss", 1.0 / (i + 1), step=i)
        seconds = time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out["ingest_sdk"] = {"points": ingest_n, "seconds": seconds, "run_id": tracked.id}

    run = client.tracked_run_create(experiment="bench", name="history")["id"]
    for start in range(0, history_n, 10 * BATCH):
        steps = list(range(start, min(start + 10 * BATCH, history_n)))
        client.log_batch(run, metrics={"loss": {"step": steps, "value": [1.0 / (i + 1) for i in steps]}},
                         batch_id=uuid.uuid4().hex)
    p50, best, got = timed(lambda: client.metric_history(run, "loss"))
    out["history"] = {"points": len(got), "p50_s": p50, "min_s": best}
    p50, best, got = timed(lambda: client.metric_columns(run, "loss"))
    out["history_columns"] = {"points": len(got["step"]), "p50_s": p50, "min_s": best}
    p50, best, got = timed(lambda: client.metric_history(run, "loss", max_points=2000))
    out["history_sampled"] = {"points": len(got), "p50_s": p50, "min_s": best}
    headers = {"Authorization": f"Bearer {token}"}

    def export() -> int:
        with httpx.stream("GET", f"{url}/api/v1/runs/{run}/metrics/loss/export?format=jsonl", headers=headers,
                          timeout=120) as response:
            return sum(block.count(b"\n") for block in response.iter_bytes())

    p50, best, lines = timed(export)
    out["history_export"] = {"points": lines, "p50_s": p50, "min_s": best}

    experiment = f"bench-list-{uuid.uuid4().hex[:8]}"
    for r in range(list_n):
        rid = client.tracked_run_create(experiment=experiment, name=f"r{r}")["id"]
        client.log_batch(rid, params={f"p{k}": str(r * k) for k in range(10)},
                         metrics={f"m{k}": {"value": [r / (k + 1)], "step": [0]} for k in range(5)},
                         batch_id=uuid.uuid4().hex)
    query = {"experiment": experiment, "columns": "params.*,metrics.*", "limit": list_n}
    p50, best, page = timed(lambda: client.request("GET", "/api/v1/runs", params=query))
    first = page["results"][0] if page.get("results") else {}
    out["list"] = {"runs": len(page.get("results", [])), "p50_s": p50, "min_s": best,
                   "values_per_run": len(first.get("values", {})), "endpoint": "GET /api/v1/runs?" + "&".join(
                       f"{k}={v}" for k, v in query.items() if k != "experiment")}
    client.close()
    return out


def copy_floor(db_url: str, n: int) -> dict:
    """The physical floors, from psycopg with no server in between, the rows made before the
    clock starts and deleted afterwards:
    - ``chunk``: raw COPY into ``runs_metricchunk``, the table Flowdeck stores points in, one
      1,000-point chunk row per COPY and transaction (what one log-batch writes), then every
      chunk in one COPY;
    - ``row``: raw COPY into a scratch table with a row per point and the index a per-point
      layout needs (the layout before chunks), in 1,000-row COPYs and in one COPY."""
    import psycopg

    run_id = db_scalar(db_url, "SELECT max(id) FROM runs_run")
    ts = int(time.time() * 1000)
    steps = list(range(n))
    chunk_rows = []
    for s in range(0, n, BATCH):
        part = steps[s:s + BATCH]
        chunk_rows.append(f"{run_id}\tfloor\t\\N\t{part[0]}\t{part[-1]}\t{{{','.join(map(str, part))}}}\t"
                          f"{{{','.join(repr(1.0 / (i + 1)) for i in part)}}}\t{{{','.join(str(ts + i) for i in part)}}}\n")
    point_rows = [f"{run_id}\tfloor\t{i}\t{1.0 / (i + 1)!r}\t{ts + i}\n" for i in range(n)]
    point_chunks = ["".join(point_rows[s:s + BATCH]) for s in range(0, n, BATCH)]
    chunk_sql = ('COPY runs_metricchunk (run_id, key, origin, step_min, step_max, steps, "values", timestamps) '
                 "FROM STDIN")
    row_sql = "COPY bench_points (run_id, key, step, value, timestamp_ms) FROM STDIN"
    out = {"points": n}
    with psycopg.connect(libpq(db_url)) as conn:
        conn.execute("CREATE TEMP TABLE bench_points (id bigserial PRIMARY KEY, run_id bigint NOT NULL, "
                     "key varchar(250) NOT NULL, step bigint NOT NULL, value float8 NOT NULL, timestamp_ms bigint NOT NULL)")
        conn.execute("CREATE INDEX ON bench_points (run_id, key, step, timestamp_ms) INCLUDE (value)")
        conn.commit()
        for label, sql, batches in (("chunk", chunk_sql, chunk_rows), ("row", row_sql, point_chunks)):
            t0 = time.perf_counter()
            for batch in batches:
                with conn.cursor() as cur, cur.copy(sql) as copy:
                    copy.write(batch)
                conn.commit()
            out[f"{label}_batched_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(sql) as copy:
                copy.write("".join(batches))
            conn.commit()
            out[f"{label}_one_copy_s"] = time.perf_counter() - t0
        conn.execute("DELETE FROM runs_metricchunk WHERE run_id = %s AND key = 'floor'", (run_id,))
        conn.commit()
    return out


def bench_mlflow(admin_url: str, ingest_n: int, history_n: int, list_n: int, tmp: Path, stack: ExitStack) -> dict:
    python, why = mlflow_python()
    if python is None:
        return {"available": False, "reason": why}
    url, why = mlflow_server(python, admin_url, MLFLOW_DB, tmp, stack)
    if url is None:
        return {"available": False, "reason": why}
    log(f"mlflow server up at {url} (2 workers); this part takes a few minutes")
    done = subprocess.run([str(python), "-c", MLFLOW_CLIENT, url, str(ingest_n), str(history_n), str(list_n), str(REPEATS)],
                          capture_output=True, text=True, timeout=7200,
                          # Two retries, as MLflow's client makes by default (it makes seven): on a loaded
                          # machine its server drops a connection now and then. A retried
                          # log-batch may store points twice; mlflow_ingest_stored_ok says so.
                          env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"})
    if done.returncode != 0:
        return {"available": False, "reason": f"the MLflow client failed: {done.stderr.strip()[-800:]}"}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["ingest"]["stored"] = db_scalar(with_database(admin_url, MLFLOW_DB),
                                        "SELECT count(*) FROM metrics WHERE run_uuid = %s", (out["ingest"]["run_id"],))
    out["available"] = True
    out["mlflow_version"] = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"],
                                           capture_output=True, text=True).stdout.strip()
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k points, a 20k-point history, 200 runs")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the peer")
    args = parser.parse_args(argv)
    ingest_n, history_n, list_n = (20_000, 20_000, 200) if args.quick else (200_000, 100_000, 1000)

    admin_url = admin_database_url()
    ensure_databases(admin_url, [FLOWDECK_DB, MLFLOW_DB])
    db_url = with_database(admin_url, FLOWDECK_DB)

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="flowdeck-bench-tracking-") as tmpdir:
        tmp = Path(tmpdir)
        signal.signal(signal.SIGTERM, _interrupt)
        url, token = start_flowdeck(db_url, tmp, stack)
        fd = bench_flowdeck(url, token, ingest_n, history_n, list_n)
        fd["ingest_in_flight"]["stored"] = db_scalar(
            db_url, "SELECT count FROM runs_metricsummary WHERE run_id = %s AND key = 'loss'", (fd["ingest_in_flight"]["run_id"],))
        fd["ingest_sdk"]["stored"] = db_scalar(
            db_url, "SELECT count FROM runs_metricsummary WHERE run_id = %s AND key = 'loss'", (fd["ingest_sdk"]["run_id"],))
        fd["ingest"]["stored"] = db_scalar(db_url, "SELECT count FROM runs_metricsummary WHERE run_id = %s AND key = 'loss'",
                                           (fd["ingest"]["run_id"],))
        floor = copy_floor(db_url, ingest_n)
        ml = {"available": False, "reason": "--no-mlflow"} if args.no_mlflow else bench_mlflow(
            admin_url, ingest_n, history_n, list_n, tmp, stack)

    def per_s(part: dict) -> float:
        return round(part["points"] / part["seconds"], 1)

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 1)

    has_ml = ml.get("available")
    result = {
        "bench": "tracking",
        "ingest_points": ingest_n, "history_points": history_n, "list_runs": list_n,
        "flowdeck_ingest_points_per_s": per_s(fd["ingest"]),
        "flowdeck_ingest_stored_ok": fd["ingest"]["stored"] == ingest_n,
        "mlflow_ingest_points_per_s": per_s(ml["ingest"]) if has_ml else None,
        "flowdeck_ingest_in_flight_points_per_s": per_s(fd["ingest_in_flight"]),
        "flowdeck_ingest_in_flight_stored_ok": fd["ingest_in_flight"]["stored"] == ingest_n,
        "flowdeck_ingest_sdk_points_per_s": per_s(fd["ingest_sdk"]),
        "flowdeck_ingest_sdk_stored_ok": fd["ingest_sdk"]["stored"] == ingest_n,
        "flowdeck_history_ms": ms(fd["history"]["p50_s"]),
        "flowdeck_history_columns_ms": ms(fd["history_columns"]["p50_s"]),
        "flowdeck_history_sampled_ms": ms(fd["history_sampled"]["p50_s"]),
        "flowdeck_history_sampled_points": fd["history_sampled"]["points"],
        "flowdeck_history_export_ms": ms(fd["history_export"]["p50_s"]),
        "mlflow_history_ms": ms(ml["history"]["p50_s"]) if has_ml else None,
        "flowdeck_list_ms": ms(fd["list"]["p50_s"]),
        "flowdeck_list_endpoint": fd["list"]["endpoint"],
        "mlflow_list_ms": ms(ml["list"]["p50_s"]) if has_ml else None,
        "copy_floor_batched_points_per_s": round(ingest_n / floor["chunk_batched_s"], 1),
        "copy_floor_one_copy_points_per_s": round(ingest_n / floor["chunk_one_copy_s"], 1),
        "copy_floor_rows_batched_points_per_s": round(ingest_n / floor["row_batched_s"], 1),
        "copy_floor_rows_one_copy_points_per_s": round(ingest_n / floor["row_one_copy_s"], 1),
    }
    if has_ml:
        result["mlflow_version"] = ml["mlflow_version"]
        result["mlflow_ingest_stored_ok"] = ml["ingest"]["stored"] == ingest_n
    else:
        result["mlflow_unavailable_reason"] = ml.get("reason", "")
    try:
        result["machine"] = machine(db_scalar(admin_url, "SHOW server_version"))
    except Exception:
        result["machine"] = machine("?")

    def cell(value, unit: str) -> str:
        return "—" if value is None else f"{value:,.1f} {unit}" if unit == "ms" else f"{value:,.0f} {unit}"

    rows = [
        (f"log-batch ingest, one client, {BATCH:,}-point batches", cell(result["flowdeck_ingest_points_per_s"], "pts/s"),
         cell(result["mlflow_ingest_points_per_s"], "pts/s"), "≥ 200,000 pts/s"),
        (f"  the same, {IN_FLIGHT} requests in flight", cell(result["flowdeck_ingest_in_flight_points_per_s"], "pts/s"),
         "", ""),
        ("  SDK log_metric per point, its sender batching", cell(result["flowdeck_ingest_sdk_points_per_s"], "pts/s"),
         "", ""),
        (f"one {history_n:,}-point metric history, whole", cell(result["flowdeck_history_ms"], "ms"),
         cell(result["mlflow_history_ms"], "ms"), "≤ 150 ms"),
        ("  the same, as columns (?columns=1)", cell(result["flowdeck_history_columns_ms"], "ms"), "(none)", ""),
        (f"  the same, chart sample ({fd['history_sampled']['points']} points)", cell(result["flowdeck_history_sampled_ms"], "ms"),
         "(none)", ""),
        ("  the same, streamed JSON-lines export", cell(result["flowdeck_history_export_ms"], "ms"), "(none)", ""),
        (f"list {list_n:,} runs, 10 params + 5 metrics each", cell(result["flowdeck_list_ms"], "ms"),
         cell(result["mlflow_list_ms"], "ms"), "≤ 100 ms"),
        (f"floor: raw COPY of {BATCH:,}-point chunks, a COPY each", cell(result["copy_floor_batched_points_per_s"], "pts/s"), "", ""),
        ("floor: raw COPY of every chunk, one COPY", cell(result["copy_floor_one_copy_points_per_s"], "pts/s"), "", ""),
        (f"  a row per point instead, {BATCH:,}-row COPYs", cell(result["copy_floor_rows_batched_points_per_s"], "pts/s"), "", ""),
        ("  a row per point instead, one COPY", cell(result["copy_floor_rows_one_copy_points_per_s"], "pts/s"), "", ""),
    ]
    print(f"\ntracking: Flowdeck (SDK Client, gunicorn 2 workers) and MLflow {result.get('mlflow_version', '')} "
          f"(MlflowClient, 2 workers) on the same PostgreSQL ({result['machine']})\n")
    header = f"{'figure':<52} {'Flowdeck':>18} {'MLflow':>18} {'target':>18}"
    print(header)
    print("-" * len(header))
    for label, ours, theirs, target in rows:
        print(f"{label:<52} {ours:>18} {theirs:>18} {target:>18}")
    print(f"\nTimes are medians of {REPEATS}. The list is {result['flowdeck_list_endpoint']} "
          f"({fd['list']['values_per_run']} values per run) against MlflowClient.search_runs.")
    if not has_ml:
        print(f"MLflow: unavailable ({ml.get('reason')})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
