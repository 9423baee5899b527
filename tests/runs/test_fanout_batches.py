"""Fan-outs in batches: many ready steps go out as a few ``steps_execute`` messages, each
step is still claimed (once) and run in its own process, a batch of slow steps hands the
rest back to the queue, and the join is queued once, when its last dependency ends."""
from __future__ import annotations

import threading

import pytest
from celery.utils.nodenames import host_format
from django.db import connection

from accounts.models import Team
from runs.models import Run, RunStatus, StepRun, StepStatus, WorkerNode
from runs.services import dispatch
from runs.services.claims import claim_next, claim_sibling
from runs.services.dispatch import BATCH_STEPS, batches
from runs.services.graph import version_graph
from runs.services.lifecycle import run_advance, run_start
from runs.services.workers import worker_seen
from tests.factories import make_spec, publish

SOURCE = '''\
import os, time


def root():
    return {"x": 1}


def child(x):
    return {"y": [x, os.getpid()]}  # a list: stored as a pickle only


def slow():
    started = time.time()
    time.sleep(1.5)
    return {"t": [started, time.time()]}


def join(**ys):
    return {"total": sum(v[0] for v in ys.values())}
'''


def fan_spec(n: int, *, others: int = 0) -> dict:
    """root -> n children -> join; ``others`` independent steps beside them, never ready
    before the test says so (they depend on a step called ``gate``)."""
    children = [f"c{i:03d}" for i in range(n)]
    steps = [
        {"name": "root", "fn": "workflow:root", "outputs": ["x"]},
        *({"name": c, "fn": "workflow:child", "depends_on": ["root"], "inputs": {"x": "root.x"}, "outputs": ["y"]}
          for c in children),
        {"name": "join", "fn": "workflow:join", "depends_on": children,
         "inputs": {f"y{i}": f"{c}.y" for i, c in enumerate(children)}, "outputs": ["total"]},
    ]
    if others:
        steps.append({"name": "gate", "fn": "workflow:root"})
        steps += [{"name": f"x{i:03d}", "fn": "workflow:root", "depends_on": ["gate"]} for i in range(others)]
    return make_spec(name=f"fan-{n}-{others}", params=[], steps=steps)


def names(run: Run, status: str) -> set[str]:
    return set(StepRun.objects.filter(run=run, status=status).values_list("name", flat=True))


@pytest.fixture
def two_processes(db):
    """One live worker serving the default queue with two processes, as dispatch sees it."""
    worker_seen(name="w1@box", hostname="box", queues=["flowdeck"], concurrency=2, started=True)
    dispatch._slots_cache.clear()
    yield
    dispatch._slots_cache.clear()


def test_it_cuts_ready_steps_into_even_batches_in_order():
    ids = list(range(1000))
    cut = batches(ids, slots=2)
    assert [len(b) for b in cut] == [BATCH_STEPS] * 40
    assert sum(cut, []) == ids
    assert [len(b) for b in batches(list(range(60)), slots=2)] == [20, 20, 20]
    # never fewer batches than worker processes (while there are steps for them)
    assert [len(b) for b in batches(list(range(10)), slots=4)] == [3, 3, 2, 2]
    assert batches([7, 8], slots=8) == [[7], [8]]


def test_it_reads_the_live_workers_processes(two_processes):
    worker_seen(name="gpu@box", hostname="box", queues=["flowdeck.gpu"], concurrency=6)
    assert WorkerNode.objects.get(name="w1@box").concurrency == 2
    assert dispatch.queue_slots("flowdeck") == 2
    assert dispatch.queue_slots("flowdeck.gpu") == 6
    assert dispatch.queue_slots("flowdeck.highmem") == dispatch.SLOTS_UNKNOWN  # nobody said


def test_a_fan_out_goes_out_as_a_few_batch_messages(user, two_processes, django_capture_on_commit_callbacks):
    run = run_start(user=user, version=publish(user, spec=fan_spec(60), files={"workflow.py": SOURCE}))
    run_advance(run_id=run.pk)
    StepRun.objects.filter(run=run, name="root").update(status=StepStatus.SUCCEEDED)
    with django_capture_on_commit_callbacks() as sent:
        queued = run_advance(run_id=run.pk, finished="root")
    assert len(queued) == 60 and names(run, StepStatus.QUEUED) == {f"c{i:03d}" for i in range(60)}
    assert len({s.queued_at for s in StepRun.objects.filter(run=run, status=StepStatus.QUEUED)}) == 1  # one UPDATE
    # three messages of 20 steps each (at most 25 a batch, at least one per worker process), in order
    assert [len(callback.args[0]) for callback in sent] == [20, 20, 20]
    assert sum((callback.args[0] for callback in sent), []) == queued
    assert {callback.args[1] for callback in sent} == {"flowdeck"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_from_one_batch_never_take_the_same_step(user):
    run = run_start(user=user, version=publish(user, spec=fan_spec(40), files={"workflow.py": SOURCE}))
    StepRun.objects.filter(run=run, name__startswith="c").update(status=StepStatus.QUEUED)
    StepRun.objects.filter(run=run, name="c005").update(status=StepStatus.STOPPED)  # stopped meanwhile: passed over
    ids = list(StepRun.objects.filter(run=run, name__startswith="c").values_list("pk", flat=True))
    taken: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            while (step := claim_next(ids)) is not None:
                taken[i].append(step.name)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(f"c{i:03d}" for i in range(40) if i != 5)
    steps = StepRun.objects.filter(run=run, name__startswith="c").exclude(name="c005")
    assert {(s.status, s.attempt) for s in steps} == {(StepStatus.RUNNING, 1)}
    assert all(s.worker and s.started_at and s.heartbeat_at for s in steps)


def test_the_join_waits_for_a_dependency_hidden_among_many_unfinished_steps(user):
    """The join's check looks at a few of the run's unfinished steps first; with 40 that are
    no dependency of it in view, it must still find the one that is."""
    run = run_start(user=user, version=publish(user, spec=fan_spec(3, others=40), files={"workflow.py": SOURCE}))
    StepRun.objects.filter(run=run, name__in=["root", "c000", "c002"]).update(status=StepStatus.SUCCEEDED)
    StepRun.objects.filter(run=run, name="c001").update(status=StepStatus.RUNNING)
    assert run_advance(run_id=run.pk, finished="c002") == []
    assert "join" in names(run, StepStatus.PENDING)

    StepRun.objects.filter(run=run, name="c001").update(status=StepStatus.SUCCEEDED)
    [join] = run_advance(run_id=run.pk, finished="c001")
    assert StepRun.objects.get(pk=join).name == "join" and "join" in names(run, StepStatus.QUEUED)
    assert len(names(run, StepStatus.PENDING)) == 41  # gate and its 40 never moved


def test_a_step_known_to_run_holds_the_join_without_asking(user, django_assert_max_num_queries):
    run = run_start(user=user, version=publish(user, spec=fan_spec(3), files={"workflow.py": SOURCE}))
    StepRun.objects.filter(run=run, name__in=["root", "c000"]).update(status=StepStatus.SUCCEEDED)
    StepRun.objects.filter(run=run, name__in=["c001", "c002"]).update(status=StepStatus.RUNNING)
    version_graph(run.asset_version_id)  # the version's graph, read once per process
    with django_assert_max_num_queries(0):
        assert run_advance(run_id=run.pk, finished="c000", version_id=run.asset_version_id, running="c001") == []
    assert "join" in names(run, StepStatus.PENDING)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_wide_fan_out_runs_every_child_once_on_both_processes(celery_worker, user):
    version = publish(user, spec=fan_spec(60), files={"workflow.py": SOURCE})
    run = celery_worker.wait_for_run(run_start(user=user, version=version).pk, timeout=180)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = {s.name: s for s in run.steps.all()}
    children = [steps[f"c{i:03d}"] for i in range(60)]
    assert {(s.status, s.attempt) for s in children} == {(StepStatus.SUCCEEDED, 1)}
    assert len({s.worker for s in children}) == 2  # both pool processes took batches
    assert steps["join"].outputs["total"]["value"] == 60  # it read every child's output
    assert steps["join"].started_at >= max(s.finished_at for s in children)
    assert WorkerNode.objects.get(name=host_format(celery_worker.name)).concurrency == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_of_slow_steps_hands_the_rest_back_to_the_queue(celery_worker, user):
    """One message with four 1.5 s steps: one process would run them in line; the batch
    hands the steps it has not started back after a second, so the other process takes
    them and they overlap."""
    spec = make_spec(name="slow-four", params=[],
                     steps=[{"name": f"s{i}", "fn": "workflow:slow", "outputs": ["t"]} for i in range(4)])
    version = publish(user, spec=spec, files={"workflow.py": SOURCE})
    run = Run.objects.create(namespace=Team.objects.get(personal_of=user), created_by=user, asset_version=version,
                             status=RunStatus.RUNNING)
    StepRun.objects.bulk_create(StepRun(run=run, name=f"s{i}", position=i, status=StepStatus.QUEUED) for i in range(4))
    from runs.tasks import steps_execute_task

    steps_execute_task.apply_async(([s.pk for s in run.steps.all()],), queue="flowdeck")
    run = celery_worker.wait_for_run(run.pk, timeout=60)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = sorted(run.steps.all(), key=lambda s: s.started_at)
    assert {(s.status, s.attempt) for s in steps} == {(StepStatus.SUCCEEDED, 1)}
    assert len({s.worker for s in steps}) == 2
    # Run in line, no step would start before the one before it ended; handed back, each
    # starts on the other process while the one before still runs.
    assert sum(b.started_at < a.finished_at for a, b in zip(steps, steps[1:])) >= 2


def test_a_batch_out_of_steps_takes_unstarted_ones_of_its_run_but_no_retry(user):
    run = run_start(user=user, version=publish(user, spec=fan_spec(6), files={"workflow.py": SOURCE}))
    other = run_start(user=user, version=publish(user, spec=fan_spec(6), files={"workflow.py": SOURCE}, version="1.0.1"))
    StepRun.objects.filter(run__in=[run, other], name__startswith="c").update(status=StepStatus.QUEUED)
    StepRun.objects.filter(run=run, name="c005").update(attempt=1)  # failed once: waits for its backoff
    mine = claim_next([StepRun.objects.get(run=run, name="c000").pk])
    taken = []
    while (step := claim_sibling(mine)) is not None:
        taken.append(step.name)
    if connection.vendor != "postgresql":  # elsewhere batches do not help each other
        assert taken == [] and names(run, StepStatus.QUEUED) == {f"c00{i}" for i in range(1, 6)}
        return
    assert taken == ["c001", "c002", "c003", "c004"]
    assert names(run, StepStatus.QUEUED) == {"c005"}
    assert len(names(other, StepStatus.QUEUED)) == 6  # another run's steps are its own batches' business
