"""Runs executed end to end by a real Celery worker process, with step subprocesses."""
from __future__ import annotations

import hashlib
import pickle

import pytest

from core import storage
from runs.models import RunStatus, StepStatus
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from runs.stored_outputs import output_bytes
from tests.factories import FAILING_WORKFLOW_SOURCE, make_spec, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def steps_of(run) -> dict:
    return {s.name: s for s in run.steps.all()}


def step_log_text(step) -> str:
    assert step.log_key or step.log_inline is not None, f"step {step.name} has no log"
    return log_bytes(step).decode()


def test_it_runs_a_workflow_to_success(celery_worker):
    user = make_user("alice")
    version = publish(user)
    run = run_start(user=user, version=version, params={"n": 4})

    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.SUCCEEDED, (run.error, {n: (s.status, s.error) for n, s in steps.items()})
    assert run.started_at and run.finished_at and run.error == ""
    assert [s.status for s in steps.values()] == [StepStatus.SUCCEEDED] * 3
    a, b, c = steps["a"], steps["b"], steps["c"]
    # Each step started only after the one it depends on had finished.
    assert a.started_at <= a.finished_at <= b.started_at <= b.finished_at <= c.started_at <= c.finished_at
    assert {s.attempt for s in steps.values()} == {1}
    assert {s.exit_code for s in steps.values()} == {0}

    # Short outputs and logs are kept in the steps' rows: nothing of this run is in storage,
    # and b and c read their inputs from a's and b's rows.
    assert dict(storage.list_keys(f"runs/{run.pk}/")) == {}
    assert "key" not in a.outputs["x"] and "key" not in b.outputs["y"]
    assert pickle.loads(output_bytes(a.outputs["x"])) == 2
    assert pickle.loads(output_bytes(b.outputs["y"])) == 8
    assert a.outputs["x"]["sha256"] == hashlib.sha256(output_bytes(a.outputs["x"])).hexdigest()
    assert a.outputs["x"]["size"] == len(output_bytes(a.outputs["x"])) and a.outputs["x"]["value"] == 2
    assert c.outputs == {}
    assert c.log_key == "" and c.log_inline is not None and c.log_size == len(c.log_inline)
    assert "y=8" in step_log_text(c)


def test_outputs_over_the_inline_size_go_to_storage_and_downstream_steps_read_them_there(celery_worker_factory):
    worker = celery_worker_factory(extra_env={"FLOWDECK_INLINE_OUTPUT_MAX_BYTES": "0"})
    user = make_user("alice")
    run = worker.wait_for_run(run_start(user=user, version=publish(user), params={"n": 4}).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = steps_of(run)
    a, b, c = steps["a"], steps["b"], steps["c"]
    keys = dict(storage.list_keys(f"runs/{run.pk}/steps/"))
    assert a.outputs["x"]["key"] == f"runs/{run.pk}/steps/a/1/outputs/x.pkl" and "inline" not in a.outputs["x"]
    assert set(keys) == {f"runs/{run.pk}/steps/a/1/outputs/x.pkl", f"runs/{run.pk}/steps/b/1/outputs/y.pkl"}
    assert pickle.loads(storage.read(a.outputs["x"]["key"])) == 2
    assert pickle.loads(output_bytes(b.outputs["y"])) == 8
    assert keys[a.outputs["x"]["key"]] == a.outputs["x"]["size"]
    assert "y=8" in step_log_text(c)


def test_it_fails_the_run_and_skips_what_follows_a_failed_step(celery_worker):
    user = make_user("alice")
    version = publish(user, files={"workflow.py": FAILING_WORKFLOW_SOURCE})
    run = run_start(user=user, version=version)

    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.FAILED
    assert "b" in run.error
    assert [(n, s.status) for n, s in steps.items()] == [
        ("a", StepStatus.SUCCEEDED), ("b", StepStatus.FAILED), ("c", StepStatus.SKIPPED),
    ]
    b = steps["b"]
    assert "boom" in b.error
    assert b.exit_code not in (0, None)
    log = step_log_text(b)
    assert "Traceback (most recent call last)" in log
    assert 'ValueError("boom")' in log or "ValueError: boom" in log
    assert steps["c"].started_at is None
    assert "b" in steps["c"].error
    assert not [k for k, _ in storage.list_keys(f"runs/{run.pk}/steps/") if k.startswith(f"runs/{run.pk}/steps/b/1/outputs/")]


TRACKING_SOURCE = '''\
import flowdeck


def train(n):
    flowdeck.log_param("optimizer", "sgd")
    for i in range(n):
        flowdeck.log_metric("loss", 1.0 / (i + 1), step=i)
    return {"model": "weights"}
'''


def test_it_records_what_a_step_logs_through_the_sdk(celery_worker):
    """The step subprocess reaches the live server with its run token, as in production."""
    user = make_user("alice")
    spec = make_spec(
        name="tracked",
        steps=[{"name": "train", "fn": "workflow:train", "inputs": {"n": "params.n"}, "outputs": ["model"]}],
    )
    version = publish(user, spec=spec, files={"workflow.py": TRACKING_SOURCE})
    run = run_start(user=user, version=version, params={"n": 4})

    run = celery_worker.wait_for_run(run.pk)
    train = steps_of(run)["train"]
    assert run.status == RunStatus.SUCCEEDED, (train.error, step_log_text(train))
    assert {p.key: p.value for p in run.logged_params.all()} == {"optimizer": "sgd"}
    summary = run.metric_summaries.get(key="loss")
    assert (summary.count, summary.last_step, summary.min, summary.max) == (4, 3, 0.25, 1.0)
    # The run token died with the run.
    assert not run.tokens.filter(revoked_at__isnull=True).exists()
