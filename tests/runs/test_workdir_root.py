"""FLOWDECK_WORKDIR_ROOT: where a worker puts its steps' work folders."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from runs.models import RunStatus
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from tests.factories import make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WHERE_SOURCE = '''\
import os


def a():
    print(f"cwd={os.getcwd()}")
    return {"x": 2}


def b(x, n):
    print(f"cwd={os.getcwd()}")
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


@pytest.fixture
def root() -> Path:
    base = Path(tempfile.mkdtemp(prefix="flowdeck-workdir-root-test-"))
    yield base / "work"  # made by the worker
    shutil.rmtree(base, ignore_errors=True)


def test_steps_run_in_folders_under_the_root_and_those_go_afterwards(celery_worker_factory, root):
    worker = celery_worker_factory(extra_env={"FLOWDECK_WORKDIR_ROOT": str(root)})
    user = make_user("alice")
    run = run_start(user=user, version=publish(user, files={"workflow.py": WHERE_SOURCE}), params={"n": 4})

    run = worker.wait_for_run(run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = {s.name: s for s in run.steps.all()}
    for name in ("a", "b"):
        line = next(ln for ln in log_bytes(steps[name]).decode().splitlines() if ln.startswith("cwd="))
        cwd = Path(line[len("cwd="):])
        assert cwd.parent.parent == root and cwd.name == "scratch", cwd
        assert cwd.parent.name.startswith(f"flowdeck-{run.pk}-{name}-")
    assert "y=8" in log_bytes(steps["c"]).decode()
    for _ in range(100):  # removed in the background, after each step is recorded
        if not os.listdir(root):
            break
        time.sleep(0.05)
    assert os.listdir(root) == []
