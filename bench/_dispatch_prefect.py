"""The Prefect 3 peer of bench/dispatch.py. It runs in bench/.venv-prefect, never in .venv:

    bench/.venv-prefect/bin/python bench/_dispatch_prefect.py CHAIN FANOUT

Prefect's defaults throughout: no PREFECT_API_URL, so the flows talk to the temporary local
server Prefect starts on first use (its SQLite database under PREFECT_HOME, which the bench
points at a scratch folder), and tasks run on the default ThreadPoolTaskRunner, in threads of
this one process (no isolation between tasks).

- chain: a flow calling a no-op task CHAIN times, each taking the previous one's result;
- fan-out: a flow with one root task, FANOUT tasks submitted after it (each takes the root's
  result) and one join task taking all their results.

Each task body returns time.time() when it runs. A warm-up (the temporary server's start, a
5-task chain and a 10-task fan-out) comes first. The last line of stdout is
``PREFECT_RESULT {json}``.
"""
from __future__ import annotations

import json
import sys
import time

import prefect
from prefect import flow, task


@task
def noop(prev: float | None = None) -> float:
    return time.time()


@task
def join(values: list[float]) -> float:
    return time.time()


@flow
def chain(n: int) -> list[float]:
    starts, prev = [], None
    for _ in range(n):
        prev = noop(prev)
        starts.append(prev)
    return starts


@flow
def fanout(n: int) -> dict:
    root = noop()
    children = [noop.submit(root) for _ in range(n)]
    end = join.submit(children)
    return {"root": root, "children": [f.result() for f in children], "join": end.result()}


def main() -> int:
    n_chain, n_fanout = int(sys.argv[1]), int(sys.argv[2])
    t0 = time.time()
    chain(5)
    fanout(10)
    warm_up_s = time.time() - t0

    t0 = time.time()
    starts = chain(n_chain)
    t1 = time.time()
    out = {"prefect_version": prefect.__version__, "warm_up_s": warm_up_s,
           "chain": {"submitted": t0, "returned": t1, "starts": starts}}

    t0 = time.time()
    fan = fanout(n_fanout)
    t1 = time.time()
    out["fanout"] = {"submitted": t0, "returned": t1, **fan}
    print("PREFECT_RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
