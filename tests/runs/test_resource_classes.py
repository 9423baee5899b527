"""Resource classes without a worker: the spec rule, the class-to-queue mapping, the worker
registry's rows, and why a queued step waits (run page, run API, workers page and API)."""
from __future__ import annotations

import html
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from flowdeck import Workflow
from flowdeck.errors import WorkflowError
from flowdeck.spec import SpecError, validate_spec
from runs.models import StepStatus, WorkerNode
from runs.routing import class_for_queue, queue_for_class, queues_for, step_queue
from runs.selectors import live_queues, step_waiting_reason, workers_live
from runs.services.lifecycle import run_advance, run_start
from runs.services.workers import worker_seen, worker_unregister, workers_forget
from tests.factories import assert_error, make_bundle, make_spec, publish

GPU_SPEC = make_spec(steps=[
    {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
    {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "inputs": {"x": "a.x", "n": "params.n"},
     "outputs": ["y"], "resources": "gpu"},
    {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
])
NO_GPU_WORKER = ("No live worker serves resource class 'gpu' (queue flowdeck.gpu). "
                 "Start one with: celery -A config worker -Q flowdeck.gpu")


def spec_with_resources(value) -> dict:
    return make_spec(steps=[{"name": "train", "fn": "workflow:a", "resources": value}])


# --- the spec ---------------------------------------------------------------------------------------
def test_it_defaults_a_step_to_the_cpu_class_and_keeps_a_named_one():
    clean = validate_spec(GPU_SPEC)
    assert [s["resources"] for s in clean["steps"]] == ["cpu", "gpu", "cpu"]
    assert validate_spec(spec_with_resources("high_mem2"))["steps"][0]["resources"] == "high_mem2"


@pytest.mark.parametrize("bad", ["GPU", "gpu!", "", "1gpu", "g" * 33, "flowdeck.gpu", "gpu-a100", 5, ["gpu"]])
def test_it_refuses_a_bad_resource_class_naming_the_step(bad):
    with pytest.raises(SpecError) as exc:
        validate_spec(spec_with_resources(bad))
    assert exc.value.field == "steps.train.resources"
    assert "resource class" in exc.value.message and repr(bad) in exc.value.message


def test_the_sdk_refuses_a_bad_class_where_the_step_is_defined_and_puts_a_good_one_in_the_spec():
    wf = Workflow("rc-demo")

    @wf.step(resources="gpu")
    def train():
        return None

    @wf.step(depends_on=[train])
    def report():
        return None

    assert [(s["name"], s["resources"]) for s in wf.spec()["steps"]] == [("train", "gpu"), ("report", "cpu")]
    with pytest.raises(WorkflowError) as exc:
        @wf.step(resources="Big GPU")
        def evaluate():
            return None
    assert exc.value.field == "steps.evaluate.resources"
    assert "evaluate" not in wf.steps  # a refused step is not kept


@pytest.mark.django_db
def test_publishing_a_bad_class_is_a_400_naming_the_field(user, auth_client):
    data = {"spec": json.dumps(spec_with_resources("GPU")), "bundle": io.BytesIO(make_bundle()), "visibility": "public"}
    data["bundle"].name = "bundle.tar.gz"
    response = auth_client(user).post("/api/v1/workflows/publish", data, format="multipart")
    error = assert_error(response, 400, field="steps.train.resources")
    assert "'GPU'" in error["message"]


# --- routing ------------------------------------------------------------------------------------------
def test_each_class_is_a_queue_and_cpu_is_the_default_queue(settings):
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "flowdeck"
    assert queue_for_class("cpu") == queue_for_class("") == "flowdeck"
    assert queue_for_class("gpu") == "flowdeck.gpu"
    assert class_for_queue("flowdeck") == "cpu" and class_for_queue("flowdeck.highmem") == "highmem"
    assert class_for_queue("celery") is None
    assert queues_for(["cpu", "gpu", "flowdeck.gpu", "highmem"]) == ["flowdeck", "flowdeck.gpu", "flowdeck.highmem"]
    with pytest.raises(ValueError):
        queues_for(["Big GPU"])


# --- the registry and the waiting reason ---------------------------------------------------------------
@pytest.mark.django_db
def test_the_registry_keeps_one_row_per_worker_and_forgets_long_dead_ones():
    worker_seen(name="gpu-1@box", hostname="box", queues=["flowdeck.gpu", "flowdeck"], started=True)
    worker_seen(name="gpu-1@box", hostname="box", queues=["flowdeck.gpu", "flowdeck"])
    node = WorkerNode.objects.get()
    assert node.queues == ["flowdeck", "flowdeck.gpu"] and node.hostname == "box"
    assert [w.name for w in workers_live()] == ["gpu-1@box"]

    WorkerNode.objects.filter(pk=node.pk).update(last_seen=timezone.now() - timedelta(seconds=31))
    assert workers_live() == []  # FLOWDECK_WORKER_STALE_S is 30
    assert workers_forget() == 0  # not yet a day
    WorkerNode.objects.filter(pk=node.pk).update(last_seen=timezone.now() - timedelta(days=2))
    assert workers_forget() == 1 and not WorkerNode.objects.exists()

    worker_seen(name="cpu-1@box", hostname="box", queues=["flowdeck"])
    worker_unregister(name="cpu-1@box")
    assert not WorkerNode.objects.exists()


def _queued_gpu_step(user):
    """A run whose gpu step is queued. No worker is needed: with non-transactional tests the
    messages that would carry it are never sent (they go on commit)."""
    version = publish(user, spec=GPU_SPEC)
    run = run_start(user=user, version=version, params={"n": 2})
    steps = {s.name: s for s in run.steps.all()}
    assert {n: s.resource_class for n, s in steps.items()} == {"a": "cpu", "b": "gpu", "c": "cpu"}
    run.steps.filter(name="a").update(status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    run_advance(run_id=run.pk)
    step = run.steps.get(name="b")
    assert step.status == StepStatus.QUEUED and step_queue(step) == "flowdeck.gpu"
    return run, step


@pytest.mark.django_db
def test_a_queued_step_says_why_it_waits(user):
    run, step = _queued_gpu_step(user)
    assert step_waiting_reason(step=step) == NO_GPU_WORKER

    worker_seen(name="cpu-1@box", hostname="box", queues=["flowdeck"])
    assert step_waiting_reason(step=step) == NO_GPU_WORKER  # a cpu worker does not serve gpu steps

    worker_seen(name="gpu-1@box", hostname="box", queues=["flowdeck", "flowdeck.gpu"])
    assert live_queues() == {"flowdeck": 2, "flowdeck.gpu": 1}
    assert step_waiting_reason(step=step) == "Waiting for a free worker (1 live worker serves resource class 'gpu')."

    WorkerNode.objects.filter(name="gpu-1@box").update(last_seen=timezone.now() - timedelta(minutes=5))
    assert step_waiting_reason(step=step) == NO_GPU_WORKER  # seen too long ago: not live
    assert step_waiting_reason(step=run.steps.get(name="c")) == ""  # pending, not queued


@pytest.mark.django_db
def test_the_run_api_and_page_show_class_worker_and_waiting_reason(user, auth_client, client):
    run, _ = _queued_gpu_step(user)
    body = auth_client(user).get(f"/api/v1/runs/{run.pk}").json()
    steps = {s["name"]: s for s in body["steps"]}
    assert {n: (s["resource_class"], s["status"]) for n, s in steps.items()} == {
        "a": ("cpu", "succeeded"), "b": ("gpu", "queued"), "c": ("cpu", "pending")}
    assert steps["b"]["waiting_reason"] == NO_GPU_WORKER
    assert steps["a"]["waiting_reason"] == steps["c"]["waiting_reason"] == ""
    assert steps["b"]["worker"] == ""

    client.force_login(user)
    page = html.unescape(client.get(f"/runs/{run.pk}/").content.decode())
    assert NO_GPU_WORKER in page
    assert '<span class="resource-class" title="Resource class">gpu</span>' in page
    fragment = html.unescape(client.get(f"/runs/{run.pk}/status?live=1").content.decode())
    assert NO_GPU_WORKER in fragment  # the live-refreshing part says it too


@pytest.mark.django_db
def test_the_workers_api_and_page_list_workers_with_their_classes(user, auth_client, client, api_client):
    worker_seen(name="gpu-1@box", hostname="box", queues=["flowdeck.gpu"], started=True)
    worker_seen(name="old@box", hostname="box", queues=["flowdeck"])
    WorkerNode.objects.filter(name="old@box").update(last_seen=timezone.now() - timedelta(minutes=10))

    body = auth_client(user).get("/api/v1/workers").json()
    assert body["stale_after_s"] == 30
    assert [(w["name"], w["live"], w["queues"], w["resource_classes"]) for w in body["workers"]] == [
        ("gpu-1@box", True, ["flowdeck.gpu"], ["gpu"]), ("old@box", False, ["flowdeck"], ["cpu"])]
    live = auth_client(user).get("/api/v1/workers?live=1").json()
    assert [w["name"] for w in live["workers"]] == ["gpu-1@box"]
    assert_error(api_client.get("/api/v1/workers"), 401)

    client.force_login(user)
    page = client.get("/workers/").content.decode()
    assert "gpu-1@box" in page and "old@box" in page and "not seen" in page
    client.logout()
    assert client.get("/workers/").status_code == 302  # to the login page


@pytest.mark.django_db
def test_the_version_diff_shows_a_changed_class_and_not_a_missing_default(user, auth_client):
    from registry.models import AssetVersion

    old = publish(user, version="1.0.0")
    # A version published before resource classes existed has no "resources" in its spec.
    legacy = {**old.spec, "steps": [{k: v for k, v in s.items() if k != "resources"} for s in old.spec["steps"]]}
    AssetVersion.objects.filter(pk=old.pk).update(spec=legacy)
    publish(user, spec=GPU_SPEC, version="1.1.0")
    body = auth_client(user).get("/api/v1/workflows/alice/demo/diff?from=1.0.0&to=1.1.0").json()
    assert body["steps"]["changed"] == [{"name": "b", "changes": {"resources": {"old": "cpu", "new": "gpu"}}}]


def test_the_make_run_worker_serves_the_configured_classes_and_always_the_default_queue(settings):
    from core.management.commands.flowdeck_up import embedded_queues

    assert settings.FLOWDECK_WORKER_QUEUES == ["cpu", "gpu", "highmem"]  # the default: one machine runs every sample
    assert embedded_queues() == "flowdeck,flowdeck.gpu,flowdeck.highmem"
    settings.FLOWDECK_WORKER_QUEUES = ["gpu", "flowdeck.tpu"]
    assert embedded_queues() == "flowdeck,flowdeck.gpu,flowdeck.tpu"  # the orchestration tasks need flowdeck
