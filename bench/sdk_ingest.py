"""How fast one process can log metrics through the SDK, next to MLflow on the same database.

    python bench/sdk_ingest.py            # 200k points
    python bench/sdk_ingest.py --quick    # 20k points

It starts what it needs and stops it at the end:
- PostgreSQL from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); it
  creates the scratch databases ``flowdeck_bench`` and ``mlflow_bench`` there if missing;
- the Flowdeck server: ``manage.py migrate``, a bench user and token (``manage.py
  bench_token``), then gunicorn with 2 workers and local file storage in a temporary folder;
- the peer: a stock MLflow tracking server (2 workers) on ``mlflow_bench``, from PyPI, in
  its own virtualenv ``bench/.venv-mlflow`` (created on first use). If it cannot be
  installed, the peer is reported as unavailable.

Measured, each from one process in a tight loop on one metric key:
- Flowdeck: ``flowdeck.log_metric`` N times inside ``flowdeck.start_run``; points/s = N /
  (first call -> run ended, i.e. everything flushed and stored). The stored count is checked
  in the database.
- MLflow ``mlflow.log_metric`` per point (the naive loop; fewer points, it is slow);
- MLflow ``MlflowClient.log_batch`` with 1,000 points per call (its documented maximum,
  MLflow's best case);
- MLflow ``mlflow.log_metric(..., synchronous=False)`` (its async logging) + flush, on
  fewer points too: it turned out about as slow as the naive loop.

Prints a table, then one JSON object with every figure as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from _common import admin_database_url, peer_venv, ensure_databases, libpq, log, machine, spawn, stop, with_database

REPO = Path(__file__).resolve().parent.parent
MLFLOW_VENV = REPO / "bench" / ".venv-mlflow"
FLOWDECK_DB = "flowdeck_bench"
MLFLOW_DB = "mlflow_bench"

MLFLOW_CLIENT = r"""
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

url, naive_n, batch_n, async_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mlflow.set_tracking_uri(url)
exp = mlflow.set_experiment("bench")
out = {"mlflow_version": mlflow.__version__}

with mlflow.start_run(run_name="naive") as run:
    t0 = time.perf_counter()
    for i in range(naive_n):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    out["naive"] = {"run_id": run.info.run_id, "points": naive_n, "seconds": time.perf_counter() - t0}

client = MlflowClient(url)
run = client.create_run(exp.experiment_id, run_name="log_batch")
t0 = time.perf_counter()
ts = int(time.time() * 1000)
for start in range(0, batch_n, 1000):
    client.log_batch(run.info.run_id, metrics=[Metric("loss", 1.0 / (i + 1), ts, i) for i in range(start, min(start + 1000, batch_n))])
client.set_terminated(run.info.run_id)
out["batch"] = {"run_id": run.info.run_id, "points": batch_n, "seconds": time.perf_counter() - t0}

if async_n:
    with mlflow.start_run(run_name="async") as run:
        t0 = time.perf_counter()
        for i in range(async_n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
        mlflow.flush_async_logging()
        out["async"] = {"run_id": run.info.run_id, "points": async_n, "seconds": time.perf_counter() - t0}
print(json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_scalar(url: str, sql: str, params: tuple = ()):
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        return conn.execute(sql, params).fetchone()[0]


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}")


def bench_flowdeck(points: int, db_url: str, tmp: Path, stack: ExitStack) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "FLOWDECK_STORAGE": "local",
        "FLOWDECK_MEDIA_ROOT": str(tmp / "storage"),
        "FLOWDECK_DATA_DIR": str(tmp / "data"),
        "FLOWDECK_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_BROKER_URL", None)  # tracked runs dispatch nothing; the file broker stays in tmp
    log("migrating flowdeck_bench")
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, env=env, check=True)
    token = subprocess.run([sys.executable, "manage.py", "bench_token"], cwd=REPO, env=env, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    log_path = tmp / "gunicorn.log"
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    proc = spawn([gunicorn, "config.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120"],
                 env=env, log_path=log_path)
    stack.callback(stop, proc)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/me", proc, log_path)
    log(f"flowdeck server up at {url} (gunicorn, 2 workers)")

    os.environ["FLOWDECK_URL"], os.environ["FLOWDECK_TOKEN"] = url, token
    import flowdeck

    # Warm-up: connections, the experiment row, the first request of each gunicorn worker.
    with flowdeck.start_run(experiment="bench", name="warm-up"):
        for i in range(2000):
            flowdeck.log_metric("loss", 1.0 / (i + 1))

    run = flowdeck.start_run(experiment="bench", name=f"sdk-ingest-{points}")
    log_metric = flowdeck.log_metric
    t0 = time.perf_counter()
    for i in range(points):
        log_metric("loss", 1.0 / (i + 1))
    t_logged = time.perf_counter()
    run.end()  # flushes every buffered batch, then marks the run succeeded
    t_done = time.perf_counter()

    stored = db_scalar(db_url, "SELECT count(*) FROM runs_metric WHERE run_id = %s", (run.id,))
    summary = db_scalar(db_url, "SELECT count FROM runs_metricsummary WHERE run_id = %s AND key = 'loss'", (run.id,))
    status = db_scalar(db_url, "SELECT status FROM runs_run WHERE id = %s", (run.id,))
    return {
        "points": points,
        "seconds": t_done - t0,
        "loop_seconds": t_logged - t0,
        "stored": stored,
        "summary_count": summary,
        "status": status,
        "server": url,
    }


# --- MLflow ---------------------------------------------------------------------------------------
def mlflow_python() -> tuple[Path | None, str]:
    return peer_venv(MLFLOW_VENV, "import mlflow, psycopg2", ["mlflow", "psycopg2-binary"])


def mlflow_server(python: Path, admin_url: str, database: str, tmp: Path, stack: ExitStack, *,
                  serve_artifacts: bool = False) -> tuple[str | None, str]:
    """A stock MLflow tracking server (2 workers) on ``database``; (url, "") or (None, why).
    With ``serve_artifacts`` it proxies artifacts itself (``--artifacts-destination``, the
    ``mlflow-artifacts`` scheme) rather than handing clients a local folder to write to."""
    # psycopg2 named explicitly: MLflow otherwise asks SQLAlchemy for psycopg (3), not installed there.
    store = "postgresql+psycopg2://" + with_database(admin_url, database).split("://", 1)[1]
    port = free_port()
    log_path = tmp / "mlflow.log"
    artifacts = ["--artifacts-destination", str(tmp / "mlartifacts")] if serve_artifacts else \
        ["--default-artifact-root", str(tmp / "mlruns")]
    proc = spawn([str(python.parent / "mlflow"), "server", "--backend-store-uri", store, *artifacts,
                  "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                 env={**os.environ, "PYTHONUNBUFFERED": "1"}, log_path=log_path)
    stack.callback(stop, proc)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, log_path, timeout=180)
    except RuntimeError as exc:
        return None, f"the MLflow server did not start: {str(exc)[:500]}"
    return url, ""


def bench_mlflow(naive: int, batch: int, async_points: int, admin_url: str, tmp: Path, stack: ExitStack) -> dict:
    python, why = mlflow_python()
    if python is None:
        return {"available": False, "reason": why}
    url, why = mlflow_server(python, admin_url, MLFLOW_DB, tmp, stack)
    if url is None:
        return {"available": False, "reason": why}
    log(f"mlflow server up at {url} (2 workers)")
    done = subprocess.run([str(python), "-c", MLFLOW_CLIENT, url, str(naive), str(batch), str(async_points)],
                          capture_output=True, text=True, timeout=3600, env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    if done.returncode != 0:
        return {"available": False, "reason": f"the MLflow client failed: {done.stderr.strip()[-800:]}"}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    mlflow_db = with_database(admin_url, MLFLOW_DB)
    for part in ("naive", "batch", "async"):
        if part in out:
            out[part]["stored"] = db_scalar(mlflow_db, "SELECT count(*) FROM metrics WHERE run_uuid = %s", (out[part]["run_id"],))
    out["available"] = True
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# --- report ---------------------------------------------------------------------------------------
def rate(points: int, seconds: float) -> float:
    return round(points / seconds, 1) if seconds > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k points instead of 200k")
    parser.add_argument("--points", type=int, help="points for Flowdeck and MLflow log_batch")
    parser.add_argument("--mlflow-naive-points", type=int, help="points for mlflow.log_metric per call (default 2000, 500 with --quick)")
    parser.add_argument("--mlflow-async-points", type=int, help="points for MLflow async logging (default 5000, 1000 with --quick; 0 skips it)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the peer")
    args = parser.parse_args(argv)
    points = args.points or (20_000 if args.quick else 200_000)
    naive = args.mlflow_naive_points or (500 if args.quick else 2000)
    async_points = args.mlflow_async_points if args.mlflow_async_points is not None else (1000 if args.quick else 5000)

    admin_url = admin_database_url()
    ensure_databases(admin_url, [FLOWDECK_DB, MLFLOW_DB])
    flowdeck_db = with_database(admin_url, FLOWDECK_DB)

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="flowdeck-bench-") as tmpdir:
        tmp = Path(tmpdir)
        # SIGTERM (e.g. `timeout`) unwinds through the ExitStack like Ctrl-C, stopping the servers.
        signal.signal(signal.SIGTERM, _interrupt)
        fd = bench_flowdeck(points, flowdeck_db, tmp, stack)
        ml = {"available": False, "reason": "--no-mlflow"} if args.no_mlflow else bench_mlflow(naive, points, async_points, admin_url, tmp, stack)

    fd_rate = rate(fd["points"], fd["seconds"])
    rows = [("Flowdeck flowdeck.log_metric (batched, background thread)", fd["points"], fd["seconds"], fd_rate, fd["stored"])]
    result = {
        "bench": "sdk_ingest",
        "points": points,
        "flowdeck_points_per_s": fd_rate,
        "flowdeck_log_call_us": round(fd["loop_seconds"] / fd["points"] * 1e6, 2),
        "flowdeck_stored": fd["stored"],
        "flowdeck_stored_ok": fd["stored"] == fd["points"] == fd["summary_count"] and fd["status"] == "succeeded",
    }
    if ml.get("available"):
        labels = {"naive": "MLflow mlflow.log_metric per point", "batch": "MLflow MlflowClient.log_batch x1000",
                  "async": "MLflow log_metric(synchronous=False) + flush"}
        keys = {"naive": "mlflow_log_metric", "batch": "mlflow_log_batch", "async": "mlflow_async_log_metric"}
        for part in ("naive", "batch", "async"):
            if part in ml:
                r = ml[part]
                rows.append((labels[part], r["points"], r["seconds"], rate(r["points"], r["seconds"]), r["stored"]))
                result[f"{keys[part]}_points"] = r["points"]
                result[f"{keys[part]}_points_per_s"] = rate(r["points"], r["seconds"])
                result[f"{keys[part]}_stored_ok"] = r["stored"] == r["points"]
        result["mlflow_version"] = ml["mlflow_version"]
    else:
        result["mlflow_available"] = False
        result["mlflow_unavailable_reason"] = ml.get("reason", "")
    try:
        pg_version = db_scalar(admin_url, "SHOW server_version")
    except Exception:
        pg_version = "?"
    result["machine"] = machine(pg_version)

    print(f"\nsdk_ingest: one process logging one metric key in a tight loop, servers on PostgreSQL ({result['machine']})\n")
    header = f"{'client':<58} {'points':>9} {'seconds':>9} {'points/s':>11} {'stored':>9}"
    print(header)
    print("-" * len(header))
    for label, n, seconds, per_s, stored in rows:
        print(f"{label:<58} {n:>9,} {seconds:>9.2f} {per_s:>11,.0f} {stored:>9,}")
    print(f"\nFlowdeck: {result['flowdeck_log_call_us']} µs per log_metric call in the loop; points/s counts until the "
          f"run ended with everything stored ({'checked' if result['flowdeck_stored_ok'] else 'MISMATCH'}).")
    if not ml.get("available"):
        print(f"MLflow: unavailable ({ml.get('reason')})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
