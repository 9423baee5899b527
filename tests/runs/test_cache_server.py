"""Step caching on the server, end to end: a real Celery worker runs the steps; a later
run with the same code and inputs reuses cached outputs without executing the step."""
from __future__ import annotations

import pickle

import pytest
from django.test import Client
from django.urls import reverse

from core import storage
from runs.models import RunStatus, StepStatus
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from runs.stored_outputs import output_bytes
from tests.factories import make_spec, make_token, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = '''\
import flowdeck


def load(n):
    print(f"loading {n}")
    return {"rows": list(range(n))}


def train(rows, lr):
    print("training")
    flowdeck.log_metric("accuracy", 0.9)
    return {"total": sum(rows) * lr}


def report(total):
    print(f"total={total}")
'''

SPEC = make_spec(
    name="cached",
    params=[{"name": "n", "type": "int", "default": 4}, {"name": "lr", "type": "float", "default": 1.0}],
    steps=[
        {"name": "load", "fn": "workflow:load", "inputs": {"n": "params.n"}, "outputs": ["rows"], "cache": True},
        {"name": "train", "fn": "workflow:train", "depends_on": ["load"], "inputs": {"rows": "load.rows", "lr": "params.lr"},
         "outputs": ["total"], "cache": True},
        # Not cached, and gated on a metric of a step that will be a cache hit.
        {"name": "report", "fn": "workflow:report", "depends_on": ["train"], "inputs": {"total": "train.total"},
         "when": "train.metrics.accuracy > 0.5"},
    ],
)


def steps_of(run) -> dict:
    return {s.name: s for s in run.steps.select_related("cached_from")}


def finished(celery_worker, run) -> dict:
    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.SUCCEEDED, {n: (s.status, s.error) for n, s in steps.items()}
    return steps


def step_keys(run_id: int, step: str) -> list[str]:
    return [k for k, _ in storage.list_keys(f"runs/{run_id}/steps/{step}/")]


def test_a_second_run_with_the_same_inputs_reuses_cached_outputs(celery_worker):
    alice = make_user("alice")
    version = publish(alice, spec=SPEC, files={"workflow.py": SOURCE})

    first_run = run_start(user=alice, version=version)
    first = finished(celery_worker, first_run)
    assert {s.cached_from_id for s in first.values()} == {None}
    assert len(first["load"].cache_key) == 64 and len(first["train"].cache_key) == 64
    assert first["report"].cache_key == ""  # not a cache=True step
    assert first["load"].worker != "cache" and first["load"].attempt == 1

    # Same params: load and train are hits, settled in one run_advance pass; report runs.
    second_run = run_start(user=alice, version=version)
    second = finished(celery_worker, second_run)
    for name in ("load", "train"):
        step = second[name]
        assert step.status == StepStatus.SUCCEEDED
        assert step.cached_from_id == first[name].pk
        assert step.worker == "cache" and step.attempt == 0 and step.exit_code is None
        assert step.log_key == "" and step.log_inline is None and step_keys(second_run.pk, name) == []  # never executed: no new log
        assert step.outputs == first[name].outputs  # the same immutable storage keys
        assert step.cache_key == first[name].cache_key
        assert step.started_at == step.finished_at
    assert pickle.loads(output_bytes(second["train"].outputs["total"])) == 6.0
    report = second["report"]
    assert report.cached_from_id is None and report.attempt == 1
    assert "total=6.0" in log_bytes(report).decode()
    # The gate read the metric from the run the cached step ran in.
    assert report.gate["values"] == {"train.metrics.accuracy": 0.9}

    # The API and the run page say where the outputs came from.
    body = Client().get(reverse("api:run", args=[second_run.pk]), HTTP_AUTHORIZATION=f"Bearer {make_token(alice)}").json()
    api_steps = {s["name"]: s for s in body["steps"]}
    assert api_steps["train"]["cached_from"] == {"run": first_run.pk, "step": "train"}
    assert api_steps["report"]["cached_from"] is None
    web = Client()
    web.force_login(alice)
    html = web.get(reverse("runs:detail", args=[second_run.pk])).content.decode()
    link = reverse("runs:detail", args=[first_run.pk]) + "#step-train"
    assert f'Cached from <a href="{link}">run {first_run.pk} step train</a>' in html

    # A changed param misses for the step that reads it, and hits for the one that does not.
    third_run = run_start(user=alice, version=version, params={"lr": 2.0})
    third = finished(celery_worker, third_run)
    assert third["load"].cached_from_id == first["load"].pk
    assert third["train"].cached_from_id is None and third["train"].worker != "cache" and third["train"].attempt == 1
    assert third["train"].cache_key != first["train"].cache_key
    assert pickle.loads(output_bytes(third["train"].outputs["total"])) == 12.0

    # A hit on a step that was itself a hit points at the step that really ran.
    fourth = finished(celery_worker, run_start(user=alice, version=version))
    assert fourth["load"].cached_from_id == first["load"].pk
    assert fourth["train"].cached_from_id == first["train"].pk


def test_the_cache_never_crosses_namespaces(celery_worker):
    alice, bob = make_user("alice"), make_user("bob")
    version = publish(alice, spec=SPEC, files={"workflow.py": SOURCE})
    finished(celery_worker, run_start(user=alice, version=version))

    bobs = finished(celery_worker, run_start(user=bob, version=version))
    assert {s.cached_from_id for s in bobs.values()} == {None}
    assert bobs["load"].worker != "cache" and bobs["load"].attempt == 1
