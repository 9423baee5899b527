"""Stop: a running step's process group is killed within 5 s and the run ends stopped."""
from __future__ import annotations

import time

import pytest

from runs.models import StepRun
from tests.factories import make_spec, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Step b starts a grandchild and sleeps; its pid file lets the test look for survivors.
SOURCE = '''\
import os, subprocess, time


def a():
    return {"x": 2}


def b(x, n, pids):
    child = subprocess.Popen(["sleep", "600"])
    with open(pids, "w") as fh:
        fh.write(f"{os.getpid()} {child.pid}")
    print("b is sleeping", flush=True)
    time.sleep(600)
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_kills_the_running_step_and_its_children_within_5_s(celery_worker, user, auth_client, tmp_path):
    pids = tmp_path / "pids"
    spec = make_spec(name="sleepy")
    spec["params"].append({"name": "pids", "type": "str", "default": str(pids)})
    spec["steps"][1]["inputs"]["pids"] = "params.pids"
    publish(user, spec=spec, files={"workflow.py": SOURCE})
    api = auth_client(user)
    run_id = api.post("/api/v1/runs", {"workflow": "alice/sleepy"}, format="json").json()["id"]
    celery_worker.wait_for(lambda: pids.exists() and pids.read_text().strip(), timeout=60, what="step b to start")
    step_pid, child_pid = map(int, pids.read_text().split())
    assert _alive(step_pid) and _alive(child_pid)

    asked = time.monotonic()
    response = api.post(f"/api/v1/runs/{run_id}/stop")
    assert response.status_code == 200, response.content
    run = celery_worker.wait_for_run(run_id, timeout=10)
    took = time.monotonic() - asked
    assert took < 5, f"the run took {took:.1f} s to stop"
    assert run.status == "stopped"
    steps = {s.name: s for s in StepRun.objects.filter(run_id=run_id)}
    assert steps["a"].status == "succeeded"
    assert steps["b"].status == "stopped" and steps["b"].error == "Stopped by request."
    assert steps["c"].status == "stopped"
    assert not _alive(step_pid) and not _alive(child_pid)
    assert "b is sleeping" in api.get(f"/api/v1/runs/{run_id}/steps/b/log").content.decode()
