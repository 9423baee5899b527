"""Steps that misbehave on a real worker: one that exits non-zero, one that hangs past its
timeout (ignoring SIGTERM), and one that prints 50 MB of logs. Each is handled, and the worker
stays healthy and runs the next workflow. (Faults of the infrastructure, workers killed,
Redis restarted, S3 cut, are in test_faults.py.)"""
from __future__ import annotations

import re
import threading
import time

import pytest
from django.test import Client
from django.urls import reverse

from core import storage
from runs.models import RunStatus, StepLogChunk, StepStatus
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from tests.factories import make_user
from tests.fault_tools import (
    assert_healthy,
    describe,
    pids_in,
    pool_pids,
    process_alive,
    process_group_members,
    process_rss_bytes,
    publish_sdk_workflow,
    steps_of,
)

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# --- 1. a step that exits non-zero ------------------------------------------------------------------------
EXIT_SOURCE = '''\
import os
import sys

from flowdeck import Workflow

wf = Workflow("exits")


@wf.step(outputs=["x"])
def prepare():
    return 1


@wf.step(depends_on=["prepare"])
def soft(x):
    print("soft: the input is not good enough", flush=True)
    sys.exit(3)


@wf.step(depends_on=["prepare"])
def hard(x):
    print("hard: the input is not good enough", flush=True)
    os._exit(3)
'''


def test_it_fails_a_step_that_exits_non_zero_and_the_worker_goes_on(celery_worker, tmp_path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", EXIT_SOURCE)
    pools_before = pool_pids(celery_worker)
    run = run_start(user=user, version=version)

    run = celery_worker.wait_for_run(run.pk, timeout=45)
    steps = steps_of(run)
    assert run.status == RunStatus.FAILED, describe(run)
    assert steps["prepare"].status == StepStatus.SUCCEEDED
    for name in ("soft", "hard"):
        step = steps[name]
        assert step.status == StepStatus.FAILED, describe(run)
        assert step.exit_code == 3, describe(run)
        # Useful: it names the exit code or shows what the step said last.
        assert re.search(r"\b3\b", step.error) or f"{name}: the input is not good enough" in step.error, step.error
        assert f"{name}: the input is not good enough" in log_bytes(step).decode()
    # The step processes died, not the worker's.
    assert pool_pids(celery_worker) == pools_before
    assert_healthy(celery_worker, user)


# --- 2. a step that hangs past its timeout --------------------------------------------------------------------
# hang ignores SIGTERM (and so does the child it starts, which inherits that), so only a
# SIGKILL of the whole process group ends them.
HANG_SOURCE = '''\
import os
import signal
import subprocess
import time
from pathlib import Path

from flowdeck import Param, Workflow

wf = Workflow("hangs", params=[Param("marker_dir", str, "")])


@wf.step(timeout_s=1)
def hang(marker_dir: str):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "300"])
    Path(marker_dir, "hang.pids").write_text(f"{os.getpid()} {child.pid} {os.getpgid(0)}")
    time.sleep(300)
'''


def test_it_kills_a_step_that_hangs_past_its_timeout(celery_worker, tmp_path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", HANG_SOURCE)
    assert version.spec["steps"][0]["timeout_s"] == 1
    run = run_start(user=user, version=version, params={"marker_dir": str(tmp_path)})

    run = celery_worker.wait_for_run(run.pk, timeout=45)
    hang = steps_of(run)["hang"]
    assert run.status == RunStatus.FAILED, describe(run)
    assert hang.status == StepStatus.FAILED, describe(run)
    assert "Timed out" in hang.error, hang.error
    assert hang.duration_s is not None and hang.duration_s < 15, hang.duration_s
    step_pid, child_pid, pgid = pids_in(tmp_path / "hang.pids")
    assert not process_alive(step_pid), "the timed-out step process is still running"
    assert not process_alive(child_pid), "a child of the timed-out step is still running"
    assert process_group_members(pgid) == [], "the timed-out step's process group still has members"
    assert_healthy(celery_worker, user)


# --- 3. a step that prints 50 MB of logs -------------------------------------------------------------------------
CHATTY_SOURCE = '''\
from flowdeck import Param, Workflow

wf = Workflow("chatty", params=[Param("lines", int, 500_000)])


@wf.step()
def chatty(lines: int):
    filler = "x" * 90
    for i in range(lines):
        print(f"{i:08d} {filler}")  # 100 bytes a line
    print("the end of a long log", flush=True)
'''

LOG_BYTES = 500_000 * 100 + len("the end of a long log\n")
RSS_LIMIT = 300 * 1024 * 1024


def test_it_keeps_a_50_mb_log_and_serves_its_tail(celery_worker, auth_client, tmp_path):
    from runs.selectors import LOG_TAIL_BYTES

    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", CHATTY_SOURCE)
    # Sample the worker's memory while the step runs: every process of its group.
    peak: dict[int, int] = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
            for pid in process_group_members(celery_worker.proc.pid):
                peak[pid] = max(peak.get(pid, 0), process_rss_bytes(pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run = run_start(user=user, version=version)
        run = celery_worker.wait_for_run(run.pk, timeout=55)
    finally:
        done.set()
        sampler.join(timeout=5)

    chatty = steps_of(run)["chatty"]
    assert run.status == RunStatus.SUCCEEDED, describe(run)
    assert chatty.log_size >= LOG_BYTES, chatty.log_size
    assert chatty.log_size < LOG_BYTES + 64 * 1024, chatty.log_size  # the log plus a few lines of ours
    assert storage.size(chatty.log_key) == chatty.log_size
    assert not StepLogChunk.objects.filter(step=chatty).exists(), "live log chunks were left behind"
    big = {pid: rss // 2**20 for pid, rss in peak.items() if rss > RSS_LIMIT}
    assert not big, f"worker processes over {RSS_LIMIT // 2**20} MiB RSS: {big} (MiB)"

    client = auth_client(user)
    started = time.monotonic()
    response = client.get(f"/api/v1/runs/{run.pk}/steps/chatty/log")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["truncated"] is True
    assert len(body["log"].encode()) <= LOG_TAIL_BYTES
    assert "the end of a long log" in body["log"]
    assert "00499999 " in body["log"]
    assert elapsed < 2.0, f"the log tail took {elapsed:.2f} s"

    # The run page's log view reads a tail too.
    page = Client()
    page.force_login(user)
    started = time.monotonic()
    response = page.get(reverse("runs:step-log", args=[run.pk, "chatty"]))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert "the end of a long log" in response.content.decode()
    assert len(response.content) < 2 * 1024 * 1024
    assert elapsed < 2.0, f"the log view took {elapsed:.2f} s"
    assert_healthy(celery_worker, user)
