"""A worker process runs the step its step made ready itself (``lifecycle.Pickup``): claimed
in the run's own transaction, with no message for it, and only one it serves; a long-lived
message goes back to the queue (FLOWDECK_PICKUP_S)."""
from __future__ import annotations

import re

import pytest

from runs.models import Run, RunStatus, StepRun, StepStatus
from runs.services.claims import worker_name
from runs.services.lifecycle import Pickup, run_advance, run_start
from tests.factories import make_spec, publish

SOURCE = '''\
import os


def one():
    return os.getpid()


def add(x):
    return x + 1
'''


def chain_spec(n: int, *, resources: dict[int, str] | None = None) -> dict:
    steps = []
    for i in range(n):
        step = {"name": f"s{i}", "fn": "workflow:one" if i == 0 else "workflow:add", "outputs": ["x"]}
        if i:
            step.update(depends_on=[f"s{i - 1}"], inputs={"x": f"s{i - 1}.x"})
        if resources and i in resources:
            step["resources"] = resources[i]
        steps.append(step)
    return make_spec(name=f"chain-{n}", params=[], steps=steps)


def fan_spec(n: int) -> dict:
    children = [f"c{i:02d}" for i in range(n)]
    return make_spec(name=f"fan-{n}", params=[], steps=[
        {"name": "root", "fn": "workflow:one", "outputs": ["x"]},
        *({"name": c, "fn": "workflow:add", "depends_on": ["root"], "inputs": {"x": "root.x"}, "outputs": ["y"]}
          for c in children),
    ])


def _first_succeeded(run: Run, name: str) -> None:
    run_advance(run_id=run.pk)  # the first step queued
    StepRun.objects.filter(run=run, name=name).update(status=StepStatus.SUCCEEDED, outputs={})


def _advance(capture, run: Run, finished: str, pickup: Pickup | None = None) -> tuple[list[int], list[tuple]]:
    """run_advance after ``finished`` ended: the steps it dispatched, and the messages it
    would send on commit, as (step ids, queue)."""
    with capture(execute=False) as callbacks:
        dispatched = run_advance(run_id=run.pk, finished=finished, pickup=pickup)
    return dispatched, [c.args for c in callbacks if getattr(c, "func", None) and c.func.__name__ == "_send"]


def test_the_next_step_of_a_chain_is_claimed_for_the_caller_with_no_message(user, django_capture_on_commit_callbacks):
    run = run_start(user=user, version=publish(user, spec=chain_spec(3), files={"workflow.py": SOURCE}))
    _first_succeeded(run, "s0")
    offer = Pickup("cpu")
    dispatched, messages = _advance(django_capture_on_commit_callbacks, run, "s0", offer)
    nxt = StepRun.objects.get(run=run, name="s1")
    assert dispatched == [nxt.pk]
    assert offer.step is not None and offer.step.pk == nxt.pk and offer.step.name == "s1"
    assert (nxt.status, nxt.attempt, nxt.worker) == (StepStatus.RUNNING, 1, worker_name())
    assert nxt.queued_at is not None and nxt.started_at >= nxt.queued_at and nxt.heartbeat_at is not None
    assert messages == []
    assert StepRun.objects.get(run=run, name="s2").status == StepStatus.PENDING


def test_without_an_offer_the_next_step_is_queued_and_sent(user, django_capture_on_commit_callbacks):
    run = run_start(user=user, version=publish(user, spec=chain_spec(2), files={"workflow.py": SOURCE}))
    _first_succeeded(run, "s0")
    _, messages = _advance(django_capture_on_commit_callbacks, run, "s0")
    nxt = StepRun.objects.get(run=run, name="s1")
    assert (nxt.status, nxt.attempt, nxt.worker) == (StepStatus.QUEUED, 0, "")
    assert messages == [([nxt.pk], "flowdeck")]


def test_a_step_of_another_resource_class_goes_to_its_queue(user, django_capture_on_commit_callbacks):
    run = run_start(user=user, version=publish(user, spec=chain_spec(2, resources={1: "gpu"}),
                                               files={"workflow.py": SOURCE}))
    _first_succeeded(run, "s0")
    offer = Pickup("cpu")
    _, messages = _advance(django_capture_on_commit_callbacks, run, "s0", offer)
    nxt = StepRun.objects.get(run=run, name="s1")
    assert offer.step is None and nxt.status == StepStatus.QUEUED
    assert messages == [([nxt.pk], "flowdeck.gpu")]


def test_of_a_fan_out_one_child_is_picked_up_and_the_rest_go_in_batches(user, django_capture_on_commit_callbacks):
    run = run_start(user=user, version=publish(user, spec=fan_spec(30), files={"workflow.py": SOURCE}))
    _first_succeeded(run, "root")
    offer = Pickup("cpu")
    dispatched, messages = _advance(django_capture_on_commit_callbacks, run, "root", offer)
    assert len(dispatched) == 30
    picked = StepRun.objects.get(run=run, status=StepStatus.RUNNING)
    assert offer.step.pk == picked.pk == dispatched[0]
    assert sorted(sum((ids for ids, _ in messages), [])) == sorted(dispatched[1:])  # every other child once, the picked one in none
    assert StepRun.objects.filter(run=run, status=StepStatus.QUEUED).count() == 29


def test_a_stopping_run_picks_up_nothing(user):
    run = run_start(user=user, version=publish(user, spec=chain_spec(2), files={"workflow.py": SOURCE}))
    _first_succeeded(run, "s0")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.STOPPING)
    offer = Pickup("cpu")
    run_advance(run_id=run.pk, finished="s0", pickup=offer)
    assert offer.step is None
    assert StepRun.objects.get(run=run, name="s1").status == StepStatus.STOPPED
    assert Run.objects.get(pk=run.pk).status == RunStatus.STOPPED


def _step_messages(worker) -> int:
    """How many step_execute messages the worker received (its log, at INFO)."""
    return len(re.findall(r"Task flowdeck\.step_execute\[[^\]]+\] received", worker.log()))


# The worker tests' steps are of a class of their own, and their worker serves its queue only,
# so that its log counts this run's messages alone: a worker killed by an earlier test leaves
# its unacknowledged messages on the default queue, for the broker to hand out again later.
QUEUE = "flowdeck.pickup"


def _chain_on_own_queue(worker_factory, user, n: int, **extra_env: str):
    """A chain of ``n`` steps of class ``pickup`` started on a worker serving that queue only;
    the first step is queued here (the run's own orchestration message goes to the default
    queue, which this worker does not serve). Returns (the worker, the ended run)."""
    worker = worker_factory([QUEUE], name_prefix="pickup", extra_env=extra_env)
    version = publish(user, spec=chain_spec(n, resources=dict.fromkeys(range(n), "pickup")), files={"workflow.py": SOURCE})
    run = run_start(user=user, version=version)
    run_advance(run_id=run.pk)
    return worker, worker.wait_for_run(run.pk, timeout=60)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_chain_runs_in_the_process_that_ran_its_first_step(celery_worker_factory, user):
    """Two pool processes, a chain of five: each step after the first is picked up by the
    process that ran the one before it, so all five ran in one process, one after another,
    each reading the output before it, and only the first step's message was sent."""
    worker, run = _chain_on_own_queue(celery_worker_factory, user, 5)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = sorted(run.steps.all(), key=lambda s: s.position)
    assert {(s.status, s.attempt) for s in steps} == {(StepStatus.SUCCEEDED, 1)}
    assert len({s.worker for s in steps}) == 1
    first = steps[0].outputs["x"]["value"]  # the pid of the step process that ran s0
    assert steps[-1].outputs["x"]["value"] == first + 4
    assert all(b.started_at >= a.finished_at for a, b in zip(steps, steps[1:]))
    assert _step_messages(worker) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_pickup_off_every_step_goes_through_the_queue(celery_worker_factory, user):
    worker, run = _chain_on_own_queue(celery_worker_factory, user, 3, FLOWDECK_PICKUP_S="0")
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = sorted(run.steps.all(), key=lambda s: s.position)
    assert steps[-1].outputs["x"]["value"] == steps[0].outputs["x"]["value"] + 2
    assert _step_messages(worker) == 3
