"""One MLflow training script, unchanged, against a stock MLflow server and against Flowdeck.

    python bench/mlflow_compat.py            # 1,000 steps x 3 metrics, 10 runs' search
    python bench/mlflow_compat.py --quick    # 200 steps

Both servers run on this machine with 2 workers each, on their own scratch databases in the
PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres):
``mlflow_bench_compat`` for MLflow (``mlflow server`` from PyPI in ``bench/.venv-mlflow``,
serving artifacts itself: ``--artifacts-destination``, the ``mlflow-artifacts`` proxy) and
``flowdeck_bench_compat`` for Flowdeck (gunicorn, local file storage), reached at
``<url>/mlflow`` with a Flowdeck token. The same client (that venv's ``mlflow``) runs the same
script against each, one after the other, with only MLFLOW_TRACKING_URI and the token changed.

The script, timed in phases: create the run and log 10 params and 3 tags; log 3 metrics per step
for N steps, one synchronous ``log_metrics`` call per step (the plain way); the same N steps
with ``synchronous=False`` (MLflow's asynchronous logging, batched into log-batch); log an
artifact folder (20 files, 2 MiB); then read back: ``get_run``, ``get_metric_history`` of one
key, ``search_runs`` with a filter, and downloading the folder. The total is the sum.

Prints a table, then one JSON object with both sides' figures as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from _common import admin_database_url, ensure_databases, log, with_database
from sdk_ingest import mlflow_python, mlflow_server
from tracking import start_flowdeck

FLOWDECK_DB = "flowdeck_bench_compat"
MLFLOW_DB = "mlflow_bench_compat"
PHASES = ("setup", "log_sync", "log_async", "artifacts", "read")

SCRIPT = r"""
import json, math, os, sys, tempfile, time
import mlflow
from mlflow import MlflowClient

steps = int(sys.argv[1])
times = {}
work = tempfile.mkdtemp()
for i in range(20):
    sub = os.path.join(work, "out", f"part{i % 4}")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i}.bin"), "wb") as fh:
        fh.write(os.urandom(100 * 1024))

def phase(name, start):
    times[name] = time.perf_counter() - start
    return time.perf_counter()

t = time.perf_counter()
mlflow.set_experiment(f"bench-{time.time_ns()}")
run = mlflow.start_run(run_name="train")
mlflow.log_params({f"p{k}": k / 10 for k in range(10)})
mlflow.set_tags({"team": "cv", "stage": "bench", "model": "resnet"})
t = phase("setup", t)
for step in range(steps):
    mlflow.log_metrics({"loss": 1 / (step + 1), "acc": 1 - math.exp(-step / 100), "lr": 0.1 * 0.99 ** step}, step=step)
t = phase("log_sync", t)
for step in range(steps):
    mlflow.log_metrics({"val_loss": 1 / (step + 2), "val_acc": 1 - math.exp(-step / 90), "grad": 1 / (step + 3)},
                       step=step, synchronous=False)
mlflow.flush_async_logging()
t = phase("log_async", t)
mlflow.log_artifacts(os.path.join(work, "out"), artifact_path="out")
t = phase("artifacts", t)
mlflow.end_run()
client = MlflowClient()
got = client.get_run(run.info.run_id)
history = client.get_metric_history(run.info.run_id, "loss")
found = client.search_runs([run.info.experiment_id], "metrics.acc > 0.5 and params.p1 = '0.1'")
local = client.download_artifacts(run.info.run_id, "out", tempfile.mkdtemp())
files = sum(len(f) for _, _, f in os.walk(local))
t = phase("read", t)
ok = (len(history) == steps and len(found) == 1 and files == 20 and len(got.data.params) == 10
      and got.data.metrics["loss"] == 1 / steps and len(client.get_metric_history(run.info.run_id, "val_acc")) == steps)
print(json.dumps({"times": times, "ok": ok, "mlflow_version": mlflow.__version__}))
"""


def settled(url: str, headers: dict, timeout: float = 180) -> None:
    """Wait until every worker answers: /health answers as soon as the first one does, and a
    request that reaches a worker still starting is cut off (MLflow's uvicorn workers, under load)."""
    deadline = time.monotonic() + timeout
    good = 0
    while good < 10:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not settle within {timeout:.0f} s")
        try:
            request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", headers=headers)
            urllib.request.urlopen(request, timeout=5).read()
            good += 1
        except OSError:
            good = 0
            time.sleep(0.5)


def run_script(python: Path, url: str, steps: int, token: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_TRACKING_URI": url, "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "true"})
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run([str(python), "-c", SCRIPT, str(steps)], capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the training script failed against {url}: {done.stderr.strip()[-1500:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["times"]["total"] = sum(out["times"][p] for p in PHASES)
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 steps instead of 1,000")
    args = parser.parse_args(argv)
    steps = 200 if args.quick else 1000
    python, why = mlflow_python()
    if python is None:
        print(f"the MLflow peer is not available: {why}", file=sys.stderr)
        return 2
    admin_url = admin_database_url()
    ensure_databases(admin_url, [FLOWDECK_DB, MLFLOW_DB])
    load = os.getloadavg()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="flowdeck-bench-compat-") as tmpdir:
        tmp = Path(tmpdir)
        signal.signal(signal.SIGTERM, _interrupt)
        fd_url, token = start_flowdeck(with_database(admin_url, FLOWDECK_DB), tmp, stack)
        ml_url, why = mlflow_server(python, admin_url, MLFLOW_DB, tmp, stack, serve_artifacts=True)
        if ml_url is None:
            print(f"the MLflow server did not start: {why}", file=sys.stderr)
            return 2
        settled(f"{fd_url}/mlflow", {"Authorization": f"Bearer {token}"})
        settled(ml_url, {})
        log(f"mlflow server up at {ml_url}; running the script against each ({steps} steps)")
        run_script(python, f"{fd_url}/mlflow", 20, token)  # warm-up: both gunicorn workers, imports
        run_script(python, ml_url, 20, None)
        fd = run_script(python, f"{fd_url}/mlflow", steps, token)
        ml = run_script(python, ml_url, steps, None)
    load_after = os.getloadavg()

    def ms(side: dict, phase: str) -> float:
        return round(side["times"][phase] * 1000, 1)

    result = {"bench": "mlflow_compat", "steps": steps, "metrics_per_step": 3, "mlflow_client": fd["mlflow_version"],
              "flowdeck_ok": fd["ok"], "mlflow_ok": ml["ok"], "load_avg_1m_before": round(load[0], 2),
              "load_avg_1m_after": round(load_after[0], 2)}
    for phase in (*PHASES, "total"):
        result[f"flowdeck_{phase}_ms"] = ms(fd, phase)
        result[f"mlflow_{phase}_ms"] = ms(ml, phase)
    result["flowdeck_ms_per_sync_step"] = round(fd["times"]["log_sync"] * 1000 / steps, 2)
    result["mlflow_ms_per_sync_step"] = round(ml["times"]["log_sync"] * 1000 / steps, 2)

    print(f"\nmlflow_compat: one training script, mlflow {fd['mlflow_version']} client, {steps} steps; "
          f"load {load[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'phase':<12}{'Flowdeck /mlflow':>18}{'MLflow server':>16}")
    for phase in (*PHASES, "total"):
        print(f"{phase:<12}{ms(fd, phase):>15.1f} ms{ms(ml, phase):>13.1f} ms")
    print(f"{'checks':<12}{'ok' if fd['ok'] else 'FAILED':>18}{'ok' if ml['ok'] else 'FAILED':>16}")
    print(json.dumps(result))
    return 0 if fd["ok"] and ml["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
