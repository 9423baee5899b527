"""Flowdeck's dispatch overhead per step, next to Celery's own round trip and Prefect 3.

    python bench/dispatch.py              # a chain of 100 no-op steps, a fan-out of 1,000
    python bench/dispatch.py --quick      # a chain of 20, a fan-out of 100

It starts what it needs and stops it at the end:
- PostgreSQL from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), where it
  creates and migrates the scratch database ``flowdeck_bench_dispatch``;
- Redis at ``--broker`` (default redis://127.0.0.1:6379/8) as the Celery broker of both
  Flowdeck and the Celery floor; their queues there are purged first;
- Flowdeck: two workflows generated with the SDK (``flowdeck.Workflow``) and published
  through the service layer, local file storage in a temporary folder, and one real worker,
  ``celery -A config worker -c 2 -Q flowdeck`` (2 prefork processes). No web server: the
  no-op steps log nothing, so they never call the API. The worker gets this process's
  environment, so e.g. ``FLOWDECK_STEP_LAUNCHER=spawn`` set when calling the bench reaches it;
- the floor: a bench-only Celery app (bench/_dispatch_celery.py) on the same broker, with
  Flowdeck's task settings, as a real worker with 2 processes;
- the peer: Prefect 3 in its own virtualenv ``bench/.venv-prefect`` (created on first use:
  ``prefect==3.8.8 'fastapi<=0.154.0'``), running bench/_dispatch_prefect.py with its
  temporary local server. If it cannot be installed, the peer is reported as unavailable.

Each no-op step (or task) returns ``time.time()`` from its code. Measured, after one warm-up:
- chain of N steps (each depends on the one before): per hop, Flowdeck's "predecessor
  finished -> step running" (StepRun.finished_at -> the next one's started_at) and
  "predecessor finished -> next step's code" (-> the time its code returned, recorded as its
  JSON scalar output), and for all three "code -> next step's code", the one figure that
  means the same everywhere. Celery's hop: the predecessor sends the next task from its code;
  "sent -> started". Also Celery with ``python -c pass`` as a subprocess per hop, the least a
  step isolated in its own process costs;
- fan-out: one root, M independent children after it and one join after them all; wall time
  from submitting the run to its end (Flowdeck: Run.finished_at; Celery: the join task ran;
  Prefect: the flow returned).

Prints a table, writes the figures to bench/results/dispatch.json, and prints them as one JSON
object on the last line.
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
import uuid
from contextlib import ExitStack
from pathlib import Path

from _common import REPO, admin_database_url, peer_venv, ensure_databases, log, machine, percentile, spawn, stop, with_database
from _dispatch_cpu import CpuMeter

BENCH = REPO / "bench"
RESULTS = BENCH / "results" / "dispatch.json"
PREFECT_VENV = BENCH / ".venv-prefect"
PREFECT_PINS = ["prefect==3.8.8", "fastapi<=0.154.0"]  # its temporary server starts only with this fastapi
DEFAULT_BROKER = "redis://127.0.0.1:6379/8"
BENCH_DB = "flowdeck_bench_dispatch"

# The bundle both workflows are published with: one file, written to a temporary folder.
WORKFLOWS = '''"""bench/dispatch.py's workflows: no-op steps that return the time their code ran."""
import time

from flowdeck import Workflow


def noop():
    return time.time()


def chain(n):
    wf = Workflow(f"bench-chain-{n}", description="A chain of no-op steps.")
    prev = []
    for i in range(n):
        wf.step(name=f"s{i:04d}", depends_on=prev, outputs=["t"])(noop)
        prev = [f"s{i:04d}"]
    return wf


def fanout(n):
    wf = Workflow(f"bench-fanout-{n}", description="One root, n no-op children, one join.")
    wf.step(name="root", outputs=["t"])(noop)
    children = [f"c{i:04d}" for i in range(n)]
    for name in children:
        wf.step(name=name, depends_on=["root"], outputs=["t"])(noop)
    wf.step(name="join", depends_on=children, outputs=["t"])(noop)
    return wf
'''


def ms(seconds: list[float]) -> dict:
    values = [s * 1000 for s in seconds]
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "max": round(max(values), 2)}


def wait_for(done, what: str, proc, log_path: Path, timeout: float, every: float = 0.05):
    """Poll ``done()`` until it returns something truthy; fail if the worker died or time ran out."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode} during {what}:\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not finish within {timeout:.0f} s; the worker's log ends:\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(every)


# --- Flowdeck -------------------------------------------------------------------------------------
def flowdeck_publish(n_chain: int, n_fanout: int, tmp: Path) -> tuple:
    """Generate both workflows with the SDK and publish them as the bench user."""
    import importlib.util

    from django.contrib.auth import get_user_model

    from accounts.services import user_create
    from flowdeck.publish import publish_plan
    from registry.services import version_publish

    user = get_user_model().objects.filter(username="bench-dispatch").first()
    if user is None:
        user = user_create(username="bench-dispatch", password=uuid.uuid4().hex, validate=False)
    folder = tmp / "workflows"
    folder.mkdir()
    (folder / "workflow.py").write_text(WORKFLOWS)
    spec = importlib.util.spec_from_file_location("bench_dispatch_workflow", folder / "workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    versions = []
    for wf in (module.chain(n_chain), module.fanout(n_fanout)):
        plan = publish_plan(wf, folder)
        versions.append(version_publish(user=user, spec=plan["spec"], bundle=plan["bundle"].data,
                                        readme=plan["readme"], visibility="private"))
    log(f"published {versions[0]} ({n_chain} steps) and {versions[1]} ({n_fanout + 2} steps), "
        f"bundle {versions[0].bundle_digest[:12]}")
    return user, versions[0], versions[1]


def flowdeck_run(user, version, proc, log_path: Path, timeout: float) -> tuple[float, object, list[dict]]:
    """Start a run through the service layer and wait for its end. Returns (submitted, run, steps)."""
    from runs.models import RUN_FINAL, Run, RunStatus, StepRun
    from runs.services.lifecycle import run_start

    submitted = time.time()
    run = run_start(user=user, version=version)
    wait_for(lambda: Run.objects.filter(pk=run.pk, status__in=RUN_FINAL).exists(), f"Flowdeck run {run.pk}",
             proc, log_path, timeout)
    run.refresh_from_db()
    steps = list(StepRun.objects.filter(run_id=run.pk).order_by("position")
                 .values("name", "status", "error", "queued_at", "started_at", "finished_at", "outputs", "worker"))
    if run.status != RunStatus.SUCCEEDED:
        bad = next((s for s in steps if s["status"] != "succeeded"), {})
        raise RuntimeError(f"Flowdeck run {run.pk} ended {run.status}: step {bad.get('name')} {bad.get('status')}: "
                           f"{bad.get('error')}\n{log_path.read_text(errors='replace')[-3000:]}")
    for s in steps:
        for k in ("queued_at", "started_at", "finished_at"):
            s[k] = s[k].timestamp()
        s["code"] = (s["outputs"].get("t") or {}).get("value")
    return submitted, run, steps


def flowdeck_chain_figures(submitted: float, run, steps: list[dict]) -> dict:
    pairs = list(zip(steps, steps[1:]))
    with_code = [(a, b) for a, b in pairs if a["code"] is not None and b["code"] is not None]
    wall = run.finished_at.timestamp() - submitted
    return {
        "steps": len(steps),
        "running": ms([b["started_at"] - a["finished_at"] for a, b in pairs]),
        "code": ms([b["code"] - a["finished_at"] for a, b in with_code]),
        "code_to_code": ms([b["code"] - a["code"] for a, b in with_code]),
        # where a hop goes: run_advance queues the next step, the broker and a worker claim it,
        # the step's process starts and runs its code, the worker stores and records it.
        "finished_to_queued": ms([b["queued_at"] - a["finished_at"] for a, b in pairs]),
        "queued_to_running": ms([b["started_at"] - b["queued_at"] for _, b in pairs]),
        "running_to_code": ms([s["code"] - s["started_at"] for s in steps if s["code"] is not None]),
        "code_to_finished": ms([s["finished_at"] - s["code"] for s in steps if s["code"] is not None]),
        "code_missing": sum(1 for s in steps if s["code"] is None),
        "wall_s": round(wall, 3),
        "per_step_ms": round(wall / len(steps) * 1000, 2),
        "workers": sorted({s["worker"] for s in steps}),
    }


def flowdeck_fanout_figures(submitted: float, run, steps: list[dict]) -> dict:
    root, children, join = steps[0], steps[1:-1], steps[-1]
    assert root["name"] == "root" and join["name"] == "join", (root["name"], join["name"])
    last_child_done = max(s["finished_at"] for s in children)
    return {
        "children": len(children),
        "wall_s": round(run.finished_at.timestamp() - submitted, 3),
        "created_to_finished_s": round((run.finished_at - run.created_at).total_seconds(), 3),
        "root_done_to_last_child_running_s": round(max(s["started_at"] for s in children) - root["finished_at"], 3),
        "root_done_to_last_child_done_s": round(last_child_done - root["finished_at"], 3),
        "children_per_s": round(len(children) / (last_child_done - root["finished_at"]), 1),
        "last_child_done_to_join_running_ms": round((join["started_at"] - last_child_done) * 1000, 2),
        "child_running_to_code": ms([s["code"] - s["started_at"] for s in children if s["code"] is not None]),
        "child_running_to_finished": ms([s["finished_at"] - s["started_at"] for s in children]),
        # A worker process between two children: recording the one (run_advance over every
        # step of the run) and claiming the next.
        "worker_finished_to_next_running": ms(worker_gaps(children)),
    }


def worker_gaps(steps: list[dict]) -> list[float]:
    by_worker: dict[str, list[dict]] = {}
    for s in steps:
        by_worker.setdefault(s["worker"], []).append(s)
    gaps = []
    for mine in by_worker.values():
        mine.sort(key=lambda s: s["started_at"])
        gaps += [b["started_at"] - a["finished_at"] for a, b in zip(mine, mine[1:])]
    return gaps


def bench_flowdeck(args, broker: str, tmp: Path, stack: ExitStack) -> dict:
    from django.conf import settings

    from config.celery import app

    user, chain_version, fanout_version = flowdeck_publish(args.chain, args.fanout, tmp)
    app.control.purge()  # stale messages of an interrupted bench must not run now
    log_path = tmp / "flowdeck-worker.log"
    proc = spawn([sys.executable, "-m", "celery", "-A", "config", "worker", "-c", str(args.concurrency), "-Q", "flowdeck",
                  "-n", f"bench-dispatch-{os.getpid()}@%h"], env=dict(os.environ), log_path=log_path)
    stack.callback(stop, proc)
    log(f"Flowdeck worker started (celery -A config worker -c {args.concurrency} -Q flowdeck); warming up on one chain run")
    t0 = time.perf_counter()
    flowdeck_run(user, chain_version, proc, log_path, args.timeout)
    log(f"warm-up done in {time.perf_counter() - t0:.1f} s (worker start included)")

    log(f"Flowdeck: chain of {args.chain}")
    chain = flowdeck_chain_figures(*flowdeck_run(user, chain_version, proc, log_path, args.timeout))
    log(f"Flowdeck: fan-out of {args.fanout}")
    meter = CpuMeter(proc.pid, bench_backends, redis_pid(broker))
    meter.start()
    fanout = flowdeck_fanout_figures(*flowdeck_run(user, fanout_version, proc, log_path, args.timeout))
    fanout["cpu_s"] = meter.stop()
    stop(proc)
    return {"chain": chain, "fanout": fanout,
            "step_launcher": getattr(settings, "FLOWDECK_STEP_LAUNCHER", "spawn")}


def bench_backends() -> list[int]:
    """The PostgreSQL backends serving the bench database, except this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [row[0] for row in cursor.fetchall()]


def redis_pid(broker: str) -> int | None:
    import redis

    try:
        return int(redis.Redis.from_url(broker).info("server")["process_id"])
    except Exception:  # a Redis elsewhere: its CPU is not ours to read
        return None


def cpu_line(cpu: dict, n: int) -> str:
    parts = ", ".join(f"{k} {v * 1000 / n:.2f}" for k, v in cpu.items() if k != "whole machine")
    return f"{parts}; the whole machine (everyone) {cpu['whole machine'] * 1000 / n:.2f}"


# --- Celery floor ---------------------------------------------------------------------------------
def bench_celery(args, broker: str, env: dict, tmp: Path, stack: ExitStack) -> dict:
    import _dispatch_celery as floor

    r = floor.store()
    floor.app.control.purge()
    log_path = tmp / "celery-floor-worker.log"
    proc = spawn([sys.executable, "-m", "celery", "-A", "_dispatch_celery", "worker", "-c", str(args.concurrency), "-Q", floor.QUEUE,
                  "-n", f"bench-floor-{os.getpid()}@%h"], env={**env, "BENCH_BROKER_URL": broker},
                 log_path=log_path, cwd=BENCH)
    stack.callback(stop, proc)
    keys: list[str] = []
    stack.callback(lambda: keys and r.delete(*keys))

    def new_run() -> str:
        run = uuid.uuid4().hex[:12]
        keys.extend(f"{floor.KEY}:{run}:{part}" for part in ("hops", "root", "children", "count", "join"))
        return run

    def chain(n: int, spawn_step: bool) -> dict:
        run = new_run()
        submitted = time.time()
        floor.hop.delay(run, 0, n, submitted, spawn_step)
        wait_for(lambda: r.llen(f"{floor.KEY}:{run}:hops") >= n, f"Celery chain {run}", proc, log_path, args.timeout)
        hops = sorted(json.loads(h) for h in r.lrange(f"{floor.KEY}:{run}:hops", 0, -1))
        pairs = list(zip(hops, hops[1:]))
        wall = hops[-1][3] - submitted
        return {"steps": n, "sent_to_started": ms([b[2] - b[1] for _, b in pairs]),
                "code_to_code": ms([b[2] - a[2] for a, b in pairs]),
                "wall_s": round(wall, 3), "per_step_ms": round(wall / n * 1000, 2)}

    def fanout(n: int) -> dict:
        run = new_run()
        meter = CpuMeter(proc.pid, lambda: [], redis_pid(broker))
        meter.start()
        submitted = time.time()
        floor.fan_root.delay(run, n)
        wait_for(lambda: r.llen(f"{floor.KEY}:{run}:join"), f"Celery fan-out {run}", proc, log_path, args.timeout)
        cpu = meter.stop()
        root = float(r.lindex(f"{floor.KEY}:{run}:root", 0))
        children = [float(t) for t in r.lrange(f"{floor.KEY}:{run}:children", 0, -1)]
        join = float(r.lindex(f"{floor.KEY}:{run}:join", 0))
        return {"children": len(children), "wall_s": round(join - submitted, 3), "cpu_s": cpu,
                "root_to_last_child_s": round(max(children) - root, 3),
                "children_per_s": round(len(children) / (max(children) - root), 1)}

    log(f"Celery floor worker started (celery -A _dispatch_celery worker -c {args.concurrency}); warming up")
    chain(10, False)
    fanout(20)
    log(f"Celery: chain of {args.chain}, then with a python subprocess per hop, then fan-out of {args.fanout}")
    out = {"chain": chain(args.chain, False), "chain_subprocess": chain(args.chain, True), "fanout": fanout(args.fanout)}
    stop(proc)
    import celery

    out["celery_version"] = celery.__version__
    return out


# --- Prefect 3 ------------------------------------------------------------------------------------
def prefect_python() -> tuple[Path | None, str]:
    return peer_venv(PREFECT_VENV, "import prefect", PREFECT_PINS)


def bench_prefect(args, env: dict, tmp: Path) -> dict:
    python, why = prefect_python()
    if python is None:
        return {"available": False, "reason": why}
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_")}
    env.update({
        "PYTHONUNBUFFERED": "1",
        # Its defaults, except: no anonymous usage report over the network, and more than 20 s
        # for the temporary server to start on a busy machine (it failed to, once, at load 8).
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    })
    log(f"Prefect 3: chain of {args.chain}, fan-out of {args.fanout} (temporary local server; warm-up first)")
    failures = []
    for attempt in (1, 2):  # the temporary server is the flaky part; one more try with a fresh PREFECT_HOME
        env["PREFECT_HOME"] = str(tmp / f"prefect-{attempt}")
        try:
            done = subprocess.run([str(python), str(BENCH / "_dispatch_prefect.py"), str(args.chain), str(args.fanout)],
                                  capture_output=True, text=True, timeout=args.timeout * 2, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"available": False, "reason": f"the Prefect flows took over {args.timeout * 2:.0f} s"}
        line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("PREFECT_RESULT ")), None)
        if line is not None:
            break
        RESULTS.parent.mkdir(exist_ok=True)
        saved = RESULTS.with_name(f"dispatch-prefect-{attempt}.log")
        saved.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
        failures.append(f"attempt {attempt} exited with {done.returncode} (output in {saved.relative_to(REPO)})")
        log(f"the Prefect script failed: {failures[-1]}")
    else:
        return {"available": False, "reason": "; ".join(failures)}
    raw = json.loads(line.split(" ", 1)[1])
    starts = raw["chain"]["starts"]
    chain_wall = raw["chain"]["returned"] - raw["chain"]["submitted"]
    fan = raw["fanout"]
    return {
        "available": True,
        "prefect_version": raw["prefect_version"],
        "chain": {"steps": len(starts), "code_to_code": ms([b - a for a, b in zip(starts, starts[1:])]),
                  "wall_s": round(chain_wall, 3), "per_step_ms": round(chain_wall / len(starts) * 1000, 2),
                  "flow_overhead_s": round(chain_wall - (starts[-1] - starts[0]), 3)},
        "fanout": {"children": len(fan["children"]), "wall_s": round(fan["returned"] - fan["submitted"], 3),
                   "submitted_to_join_s": round(fan["join"] - fan["submitted"], 3),
                   "root_to_last_child_s": round(max(fan["children"]) - fan["root"], 3),
                   "children_per_s": round(len(fan["children"]) / (max(fan["children"]) - fan["root"]), 1)},
        "warm_up_s": round(raw["warm_up_s"], 1),
        "failed_attempts": failures,
    }


# --- report ---------------------------------------------------------------------------------------
def git_state() -> dict:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def report(result: dict) -> None:
    fd, cel, pf = result["flowdeck"], result.get("celery"), result.get("prefect") or {}
    n, m = result["chain_steps"], result["fanout_children"]
    print(f"\ndispatch: a chain of {n} no-op steps and a fan-out of 1 -> {m:,} -> 1, {result['concurrency']} worker processes each\n"
          f"({result['machine']}; Flowdeck at {result['git']['commit']}{' + uncommitted changes' if result['git']['dirty'] else ''}, "
          f"step launcher {fd['step_launcher']}; load average {result['load_before']} before, {result['load_after']} after)\n")
    header = f"{'chain, per hop (ms)':<62} {'p50':>8} {'p95':>8} {'max':>8} {'wall s':>8}"
    print(header)
    print("-" * len(header))

    def row(label: str, figures: dict, wall: float | None = None) -> None:
        cells = [f"{figures[k]:>8.2f}" if figures.get(k) is not None else f"{'-':>8}" for k in ("p50", "p95", "max")]
        print(f"{label:<62} {' '.join(cells)} {wall if wall is not None else '':>8}")

    c = fd["chain"]
    row("Flowdeck: predecessor finished -> step running", c["running"], c["wall_s"])
    row("Flowdeck: predecessor finished -> step's code ran", c["code"])
    row("Flowdeck: code -> next step's code", c["code_to_code"])
    row("  of which: predecessor finished -> step queued", c["finished_to_queued"])
    row("  of which: step queued -> step running (broker, claim)", c["queued_to_running"])
    row("  of which: step running -> its code ran (process start)", c["running_to_code"])
    row("  of which: code ran -> step finished (outputs, log, record)", c["code_to_finished"])
    if cel:
        row("Celery floor: task sent -> started", cel["chain"]["sent_to_started"], cel["chain"]["wall_s"])
        row("Celery floor: code -> next task's code", cel["chain"]["code_to_code"])
        row("Celery + `python -c pass` per hop: code -> next code", cel["chain_subprocess"]["code_to_code"],
            cel["chain_subprocess"]["wall_s"])
    if pf.get("available"):
        row(f"Prefect {pf['prefect_version']}: code -> next task's code (threads)", pf["chain"]["code_to_code"], pf["chain"]["wall_s"])
    print(f"\n{f'fan-out 1 -> {m:,} -> 1':<62} {'wall s':>8} {'children/s':>11}")
    print("-" * 82)
    print(f"{'Flowdeck: run submitted -> run finished':<62} {fd['fanout']['wall_s']:>8.2f} {fd['fanout']['children_per_s']:>11,.0f}")
    if cel:
        print(f"{'Celery floor: root sent -> join ran':<62} {cel['fanout']['wall_s']:>8.2f} {cel['fanout']['children_per_s']:>11,.0f}")
    if pf.get("available"):
        label = f"Prefect {pf['prefect_version']}: flow called -> flow returned"
        print(f"{label:<62} {pf['fanout']['wall_s']:>8.2f} {pf['fanout']['children_per_s']:>11,.0f}")
    elif "prefect" in result:
        print(f"Prefect: unavailable ({pf.get('reason')})")
    f = fd["fanout"]
    print(f"\nCPU during the fan-out, ms per child: Flowdeck: {cpu_line(f['cpu_s'], m)}.")
    if cel:
        print(f"Celery floor: {cpu_line(cel['fanout']['cpu_s'], m)}.")
    print(f"\nFlowdeck's step runs in its own process; Celery's and Prefect's no-op tasks run in the worker process "
          f"or a thread. Flowdeck chain: {c['per_step_ms']} ms per step end to end. Fan-out, p50 per child: "
          f"{f['child_running_to_code']['p50']} ms claimed -> code, {f['child_running_to_finished']['p50']} ms "
          f"claimed -> finished, then {f['worker_finished_to_next_running']['p50']} ms before its worker process "
          f"runs the next child (recording it, run_advance, the next claim).")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a chain of 20 and a fan-out of 100")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="worker processes of the Flowdeck and Celery workers (default 2, the issue's figure)")
    parser.add_argument("--chain", type=int, help="steps in the chain (default 100; 20 with --quick)")
    parser.add_argument("--fanout", type=int, help="children in the fan-out (default 1000; 100 with --quick)")
    parser.add_argument("--broker", default=DEFAULT_BROKER, help=f"a Redis URL (default {DEFAULT_BROKER})")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds each run may take (default 1800)")
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery floor")
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect peer")
    args = parser.parse_args(argv)
    args.chain = args.chain or (20 if args.quick else 100)
    args.fanout = args.fanout or (100 if args.quick else 1000)

    admin_url = admin_database_url()
    if not args.broker.startswith(("redis://", "rediss://")):
        print(f"--broker must be a Redis URL, got {args.broker.split('://')[0]}://", file=sys.stderr)
        return 2
    ensure_databases(admin_url, [BENCH_DB])
    outer_env = dict(os.environ)
    result: dict = {"bench": "dispatch", "chain_steps": args.chain, "fanout_children": args.fanout,
                    "concurrency": args.concurrency,
                    "broker": args.broker, "git": git_state(), "load_before": [round(x, 2) for x in os.getloadavg()]}

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="flowdeck-bench-dispatch-") as tmpdir:
        tmp = Path(tmpdir)
        signal.signal(signal.SIGTERM, _interrupt)  # `timeout`/kill unwinds like Ctrl-C, stopping the workers
        # This process and the Flowdeck worker share one environment: database, broker, storage.
        os.environ.update({
            "DATABASE_URL": with_database(admin_url, BENCH_DB),
            "CELERY_BROKER_URL": args.broker,
            "FLOWDECK_STORAGE": "local",
            "FLOWDECK_MEDIA_ROOT": str(tmp / "storage"),
            "FLOWDECK_DATA_DIR": str(tmp / "data"),
            "FLOWDECK_WORKER_CACHE": str(tmp / "worker-cache"),
            "FLOWDECK_INTERNAL_URL": "http://127.0.0.1:9",  # no server: a step that calls the API fails loudly
            "FLOWDECK_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
        })
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        log(f"migrating {BENCH_DB}")
        call_command("migrate", "--no-input", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            result["machine"] = machine(cursor.fetchone()[0])

        result["flowdeck"] = bench_flowdeck(args, args.broker, tmp, stack)
        if not args.no_celery:
            result["celery"] = bench_celery(args, args.broker, outer_env, tmp, stack)
        result["prefect"] = ({"available": False, "reason": "--no-prefect"} if args.no_prefect
                             else bench_prefect(args, outer_env, tmp))
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]

    report(result)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
