"""The Celery floor of bench/dispatch.py: a bench-only Celery app, no Django, no database.

The bench starts it as a real worker (``celery -A _dispatch_celery worker -c 2 -Q
bench-floor``, from bench/) on the broker Flowdeck uses, with Flowdeck's task settings (late
acks, prefetch 1, no result backend), and sends its tasks from the bench process. Tasks
write their timestamps to Redis lists under ``KEY`` (the broker's own Redis; there is no
result backend to read them from):

- ``hop(run, i, n, sent, spawn)``: step i of a chain. Records [i, sent, started, ended] and
  sends step i+1 itself. With ``spawn`` it first runs ``python -c pass`` as a subprocess, the
  least an isolated step costs.
- ``fan_root(run, n)`` sends ``n`` ``fan_child`` tasks; the child that finds the counter at
  ``n`` sends ``fan_join``. Each records when it started.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import redis
from celery import Celery

BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/8")
QUEUE = "bench-floor"
KEY = "bench-dispatch"

app = Celery("bench_floor", broker=BROKER_URL, set_as_current=False)  # never the bench's Django app
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    result_backend=None,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_redis: redis.Redis | None = None


def store() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(BROKER_URL)
    return _redis


@app.task(name="bench.hop")
def hop(run: str, i: int, n: int, sent: float, spawn: bool) -> None:
    started = time.time()
    if spawn:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    ended = time.time()
    store().rpush(f"{KEY}:{run}:hops", json.dumps([i, sent, started, ended]))
    if i + 1 < n:
        hop.delay(run, i + 1, n, time.time(), spawn)


@app.task(name="bench.fan_root")
def fan_root(run: str, n: int) -> None:
    store().rpush(f"{KEY}:{run}:root", time.time())
    for _ in range(n):
        fan_child.delay(run, n)


@app.task(name="bench.fan_child")
def fan_child(run: str, n: int) -> None:
    r = store()
    r.rpush(f"{KEY}:{run}:children", time.time())
    if r.incr(f"{KEY}:{run}:count") == n:
        fan_join.delay(run)


@app.task(name="bench.fan_join")
def fan_join(run: str) -> None:
    store().rpush(f"{KEY}:{run}:join", time.time())
