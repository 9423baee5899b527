"""Fan-out and fan-in: many steps ending at once queue what follows exactly once, and
independent steps run at the same time on different worker processes."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from runs.models import StepRun, StepStatus
from runs.services.lifecycle import run_advance, run_start
from tests.factories import make_spec, publish

WIDE = 12


def _fan(n: int, fn_child: str = "workflow:child", fn_join: str = "workflow:join") -> dict:
    children = [f"c{i:02d}" for i in range(n)]
    return make_spec(
        name=f"fan-{n}",
        params=[],
        steps=[
            {"name": "root", "fn": "workflow:root", "outputs": ["x"]},
            *({"name": c, "fn": fn_child, "depends_on": ["root"], "inputs": {"x": "root.x"}, "outputs": ["y"]}
              for c in children),
            {"name": "join", "fn": fn_join, "depends_on": children, "inputs": {f"y{i}": f"{c}.y" for i, c in enumerate(children)},
             "outputs": ["total"]},
        ],
    )


@pytest.mark.django_db(transaction=True)
def test_children_ending_together_queue_the_join_once(user):
    """Every child ends, then all of them call run_advance at the same moment, each on its
    own database connection: the join is dispatched by exactly one of them."""
    run = run_start(user=user, version=publish(user, spec=_fan(WIDE)))
    assert run_advance(run_id=run.pk)  # root queued
    StepRun.objects.filter(run=run, name="root").update(status=StepStatus.SUCCEEDED)
    queued = run_advance(run_id=run.pk, finished="root")
    assert len(queued) == WIDE
    StepRun.objects.filter(run=run, name__startswith="c").update(status=StepStatus.SUCCEEDED)

    barrier = threading.Barrier(WIDE)
    dispatched: list[list[int]] = []
    errors: list[BaseException] = []

    def child_ends(name: str) -> None:
        try:
            barrier.wait()
            dispatched.append(run_advance(run_id=run.pk, finished=name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=child_ends, args=(f"c{i:02d}",)) for i in range(WIDE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    join = StepRun.objects.get(run=run, name="join")
    assert [ids for ids in dispatched if ids] == [[join.pk]]
    assert join.status == StepStatus.QUEUED


SOURCE = '''\
import os, time


def root():
    return {"x": 1}


def child(x):
    started = time.time()
    time.sleep(1.0)
    return {"y": [x, os.getpid(), started, time.time()]}


def join(**ys):
    return {"total": sum(v[0] for v in ys.values())}
'''


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_independent_steps_run_at_once_on_different_processes(celery_worker, user):
    version = publish(user, spec=_fan(4), files={"workflow.py": SOURCE})
    run = run_start(user=user, version=version)
    run = celery_worker.wait_for_run(run.pk, timeout=90)
    assert run.status == "succeeded", run.error
    steps = {s.name: s for s in run.steps.all()}
    children = [steps[f"c{i:02d}"] for i in range(4)]
    assert len({s.worker for s in children}) == 2  # the worker's two processes both took children
    # Two at a time: the four one-second children overlap, in two waves.
    spans = sorted((s.started_at, s.finished_at) for s in children)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    assert spans[-1][1] - spans[0][0] < timedelta(seconds=3.8)
    assert steps["join"].outputs["total"]["value"] == 4  # fan-in: the join read every child's output
    assert steps["join"].started_at >= max(s.finished_at for s in children)
