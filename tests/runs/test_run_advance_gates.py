"""run_advance with gates and the step cache, without a worker: the database is the truth."""
from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from core import storage
from runs.models import MetricSummary, RunStatus, StepRun, StepStatus
from runs.services.lifecycle import run_advance, run_start
from tests.factories import make_spec, make_user, publish

pytestmark = pytest.mark.django_db

# a (cached) -> b (cached, reads a.x and n) -> c (gated on b's output and a metric)
SPEC = make_spec(
    name="gc",
    params=[{"name": "n", "type": "int", "default": 3}],
    steps=[
        {"name": "a", "fn": "workflow:a", "outputs": ["x"], "cache": True},
        {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "inputs": {"x": "a.x", "n": "params.n"},
         "outputs": ["y"], "cache": True},
        {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"},
         "when": "b.outputs.y > params.n and b.metrics.acc >= 0.5"},
    ],
)


@pytest.fixture
def version(user):
    return publish(user, spec=SPEC)


def statuses(run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("name", "status"))


def succeed(run, name: str, **outputs) -> None:
    """Mark a step succeeded as the executor would, with its outputs really stored."""
    stored = {}
    for out, value in outputs.items():
        data = repr(value).encode()
        key = storage.step_key(run.pk, name, 1, f"outputs/{out}.pkl")
        storage.put(key, data)
        stored[out] = {"key": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "value": value}
    StepRun.objects.filter(run=run, name=name).update(
        status=StepStatus.SUCCEEDED, outputs=stored, attempt=1, finished_at=timezone.now()
    )


def metric(run, key: str, value: float) -> None:
    MetricSummary.objects.create(run=run, key=key, last=value, last_step=0, min=value, max=value, count=1)


def execute_all(run, *, y: int = 6, acc: float = 0.9) -> None:
    run_advance(run_id=run.pk)
    succeed(run, "a", x=2)
    run_advance(run_id=run.pk)
    succeed(run, "b", y=y)
    metric(run, "acc", acc)
    run_advance(run_id=run.pk)


def test_a_false_gate_skips_and_is_decided_once(user, version):
    run = run_start(user=user, version=version)
    execute_all(run, y=2)
    c = StepRun.objects.get(run=run, name="c")
    assert c.status == StepStatus.SKIPPED
    assert c.gate == {"expr": "b.outputs.y > params.n and b.metrics.acc >= 0.5", "passed": False,
                      "values": {"b.outputs.y": 2, "params.n": 3}}
    assert c.error == "Gate false: b.outputs.y > params.n and b.metrics.acc >= 0.5"
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED

    MetricSummary.objects.filter(run=run).delete()
    assert run_advance(run_id=run.pk) == []  # the run is final; nothing is judged again
    c.refresh_from_db()
    assert c.gate["passed"] is False


def test_a_true_gate_queues_the_step_with_its_outcome(user, version):
    run = run_start(user=user, version=version)
    execute_all(run)
    c = StepRun.objects.get(run=run, name="c")
    assert c.status == StepStatus.QUEUED
    assert c.gate == {"expr": "b.outputs.y > params.n and b.metrics.acc >= 0.5", "passed": True,
                      "values": {"b.metrics.acc": 0.9, "b.outputs.y": 6, "params.n": 3}}
    assert run_advance(run_id=run.pk) == []  # idempotent: queued once


def test_a_gate_that_cannot_be_decided_fails_the_step_and_the_run(user, version):
    run = run_start(user=user, version=version)
    run_advance(run_id=run.pk)
    succeed(run, "a", x=2)
    run_advance(run_id=run.pk)
    succeed(run, "b", y=6)  # no "acc" metric logged
    run_advance(run_id=run.pk)
    c = StepRun.objects.get(run=run, name="c")
    assert c.status == StepStatus.FAILED
    assert c.error == "gate reads b.metrics.acc, but no metric 'acc' was logged"
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "'c'" in run.error


def test_cache_hits_settle_a_chain_of_steps_in_one_pass(user, version):
    first = run_start(user=user, version=version)
    execute_all(first)
    keys = dict(StepRun.objects.filter(run=first).values_list("name", "cache_key"))
    assert len(keys["a"]) == 64 and len(keys["b"]) == 64 and keys["c"] == ""

    second = run_start(user=user, version=version)
    dispatched = run_advance(run_id=second.pk)
    # a and b were hits; c's gate read b's (copied) output and b's metric in the first run.
    assert [StepRun.objects.get(pk=i).name for i in dispatched] == ["c"]
    steps = {s.name: s for s in StepRun.objects.filter(run=second)}
    assert steps["a"].cached_from.run_id == first.pk and steps["b"].cached_from.run_id == first.pk
    assert steps["b"].worker == "cache" and steps["b"].status == StepStatus.SUCCEEDED
    assert steps["c"].gate["values"] == {"b.metrics.acc": 0.9, "b.outputs.y": 6, "params.n": 3}

    third = run_start(user=user, version=version, params={"n": 4})
    run_advance(run_id=third.pk)
    assert statuses(third) == {"a": "succeeded", "b": "queued", "c": "pending"}  # b reads n: a miss


def test_a_hit_whose_outputs_are_gone_is_a_miss(user, version):
    first = run_start(user=user, version=version)
    execute_all(first)
    storage.delete_prefix(storage.run_prefix(first.pk))

    second = run_start(user=user, version=version)
    run_advance(run_id=second.pk)
    assert statuses(second) == {"a": "queued", "b": "pending", "c": "pending"}


def test_no_key_without_the_sha256_of_an_input(user, version):
    first = run_start(user=user, version=version)
    run_advance(run_id=first.pk)
    StepRun.objects.filter(run=first, name="a").update(
        status=StepStatus.SUCCEEDED, outputs={"x": {"key": "runs/old/x.pkl", "size": 1}}  # stored before sha256 existed
    )
    run_advance(run_id=first.pk)
    b = StepRun.objects.get(run=first, name="b")
    assert b.status == StepStatus.QUEUED and b.cache_key == ""


def test_the_cache_is_per_namespace(user, version):
    execute_all(run_start(user=user, version=version))
    bob = make_user("bob")
    theirs = run_start(user=bob, version=version)
    run_advance(run_id=theirs.pk)
    assert statuses(theirs)["a"] == "queued"
