"""Resource classes with real workers: a gpu step waits, saying why, until a worker started
with ``-Q flowdeck.gpu`` takes it; workers register, refresh and drop their registry rows."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from celery.utils.nodenames import host_format

from runs.models import RunStatus, StepStatus, WorkerNode
from runs.selectors import step_waiting_reason, workers_live
from runs.services.lifecycle import run_start
from tests.factories import WORKFLOW_SOURCE, make_spec, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GPU_SPEC = make_spec(steps=[
    {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
    {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "inputs": {"x": "a.x", "n": "params.n"},
     "outputs": ["y"], "resources": "gpu"},
    {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
])
NO_GPU_WORKER = ("No live worker serves resource class 'gpu' (queue flowdeck.gpu). "
                 "Start one with: celery -A config worker -Q flowdeck.gpu")


def node_name(worker) -> str:
    """The Celery node name the worker registered under (``-n`` with ``%h`` expanded)."""
    return host_format(worker.name)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def ran_on(step, worker) -> bool:
    """``step.worker`` is ``<name>:<pid>`` of the pool process that ran it: that process must
    be one of ``worker``'s, and a name with ``@`` in it its node name."""
    name, _, pid = step.worker.rpartition(":")
    if not pid.isdigit() or int(pid) not in _children(worker.proc.pid):
        return False
    return "@" not in name or name == node_name(worker)


def test_a_gpu_step_waits_for_a_gpu_worker_then_runs_on_it(celery_worker, celery_worker_factory, auth_client):
    user = make_user("alice")
    version = publish(user, spec=GPU_SPEC)
    celery_worker_factory.purge(["flowdeck.gpu"])  # nothing from an earlier session may serve it
    assert WorkerNode.objects.get(name=node_name(celery_worker)).queues == ["flowdeck"]

    run = run_start(user=user, version=version, params={"n": 5})

    def b_queued():
        step = run.steps.get(name="b")
        return step if step.status == StepStatus.QUEUED else None

    b = celery_worker.wait_for(b_queued, what="step b to be queued")
    a = run.steps.get(name="a")
    assert a.status == StepStatus.SUCCEEDED and a.resource_class == "cpu" and ran_on(a, celery_worker)
    assert b.resource_class == "gpu"
    assert step_waiting_reason(step=b) == NO_GPU_WORKER
    api = auth_client(user)
    body = {s["name"]: s for s in api.get(f"/api/v1/runs/{run.pk}").json()["steps"]}
    assert (body["b"]["resource_class"], body["b"]["status"], body["b"]["waiting_reason"]) == ("gpu", "queued", NO_GPU_WORKER)
    assert body["a"]["worker"] == a.worker and body["a"]["waiting_reason"] == ""

    time.sleep(2)  # the idle cpu worker does not take it
    assert run.steps.get(name="b").status == StepStatus.QUEUED

    gpu = celery_worker_factory(["flowdeck.gpu"], name_prefix="gpu", purge=False)
    assert WorkerNode.objects.get(name=node_name(gpu)).queues == ["flowdeck.gpu"]
    listed = {w["name"]: w for w in api.get("/api/v1/workers?live=1").json()["workers"]}
    assert listed[node_name(gpu)]["resource_classes"] == ["gpu"]
    assert listed[node_name(celery_worker)]["resource_classes"] == ["cpu"]

    run = gpu.wait_for_run(run.pk)
    steps = {s.name: s for s in run.steps.all()}
    assert run.status == RunStatus.SUCCEEDED, {n: (s.status, s.error) for n, s in steps.items()}
    assert ran_on(steps["b"], gpu), (steps["b"].worker, node_name(gpu))
    assert ran_on(steps["c"], celery_worker)  # the step after it is a cpu step again
    body = {s["name"]: s for s in api.get(f"/api/v1/runs/{run.pk}").json()["steps"]}
    assert body["b"]["worker"] == steps["b"].worker and body["b"]["waiting_reason"] == ""

    gpu.stop()  # a clean shutdown takes the worker out of the registry
    assert not WorkerNode.objects.filter(name=node_name(gpu)).exists()
    assert [w["name"] for w in api.get("/api/v1/workers").json()["workers"]] == [node_name(celery_worker)]


def test_a_worker_keeps_its_row_fresh_and_a_killed_one_stops_counting(celery_worker_factory, settings):
    worker = celery_worker_factory(["flowdeck", "flowdeck.highmem"], name_prefix="beat",
                                   extra_env={"FLOWDECK_WORKER_HEARTBEAT_S": "1"})
    row = WorkerNode.objects.get(name=node_name(worker))
    assert row.queues == ["flowdeck", "flowdeck.highmem"]
    worker.wait_for(lambda: WorkerNode.objects.get(pk=row.pk).last_seen > row.last_seen, timeout=10,
                    what="the worker's heartbeat to refresh last_seen")

    os.killpg(worker.proc.pid, signal.SIGKILL)  # no shutdown: the row stays behind
    worker.proc.wait(timeout=10)
    assert WorkerNode.objects.filter(pk=row.pk).exists()
    settings.FLOWDECK_WORKER_STALE_S = 2
    deadline = time.monotonic() + 10
    while node_name(worker) in {w.name for w in workers_live()}:
        assert time.monotonic() < deadline, "a killed worker still counts as live"
        time.sleep(0.2)


FLAKY_SOURCE = WORKFLOW_SOURCE.replace('''def b(x, n):
    return {"y": x * n}''', '''def b(x, n, marker):
    import os
    if not os.path.exists(marker):  # the first attempt fails, the retry succeeds
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return {"y": x * n}''')


def test_a_retried_gpu_step_goes_back_to_a_gpu_worker(celery_worker, celery_worker_factory, tmp_path):
    user = make_user("alice")
    spec = make_spec(
        params=[{"name": "n", "type": "int", "default": 3}, {"name": "marker", "type": "str", "default": ""}],
        steps=[
            {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
            {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "outputs": ["y"], "resources": "gpu", "retries": 1,
             "inputs": {"x": "a.x", "n": "params.n", "marker": "params.marker"}},
            {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
        ],
    )
    version = publish(user, spec=spec, files={"workflow.py": FLAKY_SOURCE})
    gpu = celery_worker_factory(["flowdeck.gpu"], name_prefix="gpu")
    run = run_start(user=user, version=version, params={"marker": str(tmp_path / "attempted")})

    run = gpu.wait_for_run(run.pk)
    b = run.steps.get(name="b")
    assert run.status == RunStatus.SUCCEEDED and b.attempt == 2, (b.status, b.error)
    assert ran_on(b, gpu), (b.worker, node_name(gpu))  # the retry too: not the idle cpu worker
