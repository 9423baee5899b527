"""A fan-out's steps travel in batches (one ``steps_execute`` message names many steps). A
pool process SIGKILLed in the middle of one step of a batch: the batch message comes back
(acks late), the killed step is taken over and runs once more, every other step of the
fan-out runs exactly once, and the run succeeds with no metric point doubled or lost."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from runs.models import RunStatus, StepRun, StepStatus
from runs.services.lifecycle import run_start
from tests.factories import make_user
from tests.fault_tools import (
    assert_points_once,
    describe,
    pids_in,
    pool_pids,
    publish_sdk_workflow,
    steps_of,
    wait_for_run,
)

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHILDREN = 20
VICTIM = "c05"

# Each child appends its pid to <marker_dir>/<name>.pids (so a test can count executions) and
# logs one point at its own step; the victim sleeps a minute on its first attempt only.
HEADER = '''\
import os
import time
from pathlib import Path

from flowdeck import Param, Workflow, log_metric

wf = Workflow("fanout-killed-mid-batch", params=[Param("marker_dir", str, "")])


def child(name: str, index: int, marker_dir: str) -> int:
    pids = Path(marker_dir) / f"{name}.pids"
    first = not pids.exists()
    with open(pids, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    log_metric("done", 1.0, step=index)
    if name == "%(victim)s":
        time.sleep(60 if first else 0.2)
    return index


@wf.step(outputs=["n"])
def root(marker_dir: str):
    return 0
'''
CHILD = '''

@wf.step(name="c%(i)02d", depends_on=["root"], outputs=["v"])
def c%(i)02d(marker_dir: str):
    return child("c%(i)02d", %(i)d, marker_dir)
'''
JOIN = '''

@wf.step(depends_on=[%(names)s], outputs=["total"])
def join(marker_dir: str):
    return sum(1 for p in Path(marker_dir).glob("c*.pids"))
'''


def fanout_source() -> str:
    names = [f"c{i:02d}" for i in range(CHILDREN)]
    children = "".join(CHILD % {"i": i} for i in range(CHILDREN))
    return HEADER % {"victim": VICTIM} + children + JOIN % {"names": ", ".join(f'"{n}"' for n in names)}


def test_a_pool_process_killed_mid_batch_reruns_only_its_step(celery_worker, tmp_path: Path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", fanout_source())
    markers = tmp_path / "markers"
    markers.mkdir()
    run = run_start(user=user, version=version, params={"marker_dir": str(markers)})

    def victim_running():
        step = StepRun.objects.get(run_id=run.pk, name=VICTIM)
        return step if step.status == StepStatus.RUNNING and len(pids_in(markers / f"{VICTIM}.pids")) == 1 else None

    step = celery_worker.wait_for(victim_running, timeout=45, what=f"{VICTIM}'s first attempt to be running")
    pid = int(step.worker.rpartition(":")[2])
    assert pid in pool_pids(celery_worker), (step.worker, pool_pids(celery_worker))
    # Mid-batch: the same process already ran other steps of this fan-out before the victim.
    before = StepRun.objects.filter(run_id=run.pk, worker=step.worker, status=StepStatus.SUCCEEDED)
    assert before.exclude(name="root").exists(), describe(run)
    os.kill(pid, signal.SIGKILL)

    run = wait_for_run(celery_worker, run.pk, timeout=90)
    steps = steps_of(run)
    assert run.status == RunStatus.SUCCEEDED, describe(run)
    # The killed step ran twice (the killed attempt and one more); every other step once.
    assert (steps[VICTIM].status, steps[VICTIM].attempt) == (StepStatus.SUCCEEDED, 2), describe(run)
    assert len(pids_in(markers / f"{VICTIM}.pids")) == 2
    for i in range(CHILDREN):
        name = f"c{i:02d}"
        if name != VICTIM:
            assert (steps[name].status, steps[name].attempt) == (StepStatus.SUCCEEDED, 1), (name, describe(run))
            assert len(pids_in(markers / f"{name}.pids")) == 1, f"{name} ran more than once"
    assert steps["join"].status == StepStatus.SUCCEEDED and steps["join"].outputs["total"]["value"] == CHILDREN
    # One point per child, the victim's from its second attempt only.
    assert_points_once(run, {"done": CHILDREN})
    assert celery_worker.alive()
