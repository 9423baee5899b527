"""Quality gates on the server, end to end: a real Celery worker runs the steps, and
run_advance judges each gate from the recorded metrics, params and scalar outputs."""
from __future__ import annotations

import hashlib

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


def train(n):
    flowdeck.log_metric("accuracy", 0.1, step=0)
    flowdeck.log_metric("accuracy", 0.5 + n / 100, step=1)
    return {"n_rows": n * 10, "model": {"weights": [1, 2]}}


def deploy(n_rows):
    print(f"deploying {n_rows} rows")
    return {"url": "https://models.example/1"}


def notify(url):
    print(f"notify {url}")
'''

GATE = "train.metrics.accuracy >= params.min_accuracy and train.outputs.n_rows > 10"


def gated_spec(when: str = GATE) -> dict:
    return make_spec(
        name="gated",
        params=[
            {"name": "n", "type": "int", "default": 3},
            {"name": "min_accuracy", "type": "float", "default": 0.8},
        ],
        steps=[
            {"name": "train", "fn": "workflow:train", "inputs": {"n": "params.n"}, "outputs": ["n_rows", "model"]},
            {"name": "deploy", "fn": "workflow:deploy", "depends_on": ["train"], "inputs": {"n_rows": "train.n_rows"},
             "outputs": ["url"], "when": when},
            {"name": "notify", "fn": "workflow:notify", "depends_on": ["deploy"], "inputs": {"url": "deploy.url"}},
        ],
    )


def steps_of(run) -> dict:
    return {s.name: s for s in run.steps.all()}


def test_a_false_gate_skips_the_step_and_what_follows_and_the_run_succeeds(celery_worker):
    user = make_user("alice")
    version = publish(user, spec=gated_spec(), files={"workflow.py": SOURCE})
    run = run_start(user=user, version=version, params={"n": 3})

    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.SUCCEEDED, {n: (s.status, s.error) for n, s in steps.items()}
    assert {n: s.status for n, s in steps.items()} == {
        "train": StepStatus.SUCCEEDED, "deploy": StepStatus.SKIPPED, "notify": StepStatus.SKIPPED,
    }
    deploy, notify = steps["deploy"], steps["notify"]
    # The gate stopped at the metric (and short-circuited past n_rows): the last accuracy, 0.53.
    assert deploy.gate == {"expr": GATE, "passed": False, "values": {"params.min_accuracy": 0.8, "train.metrics.accuracy": 0.53}}
    assert deploy.error == f"Gate false: {GATE}"
    assert deploy.started_at is None and deploy.attempt == 0 and deploy.log_key == "" and deploy.log_inline is None
    assert notify.gate is None and "deploy" in notify.error and notify.started_at is None

    # Scalar outputs carry their value; every output carries the sha256 of its pickle.
    train = steps["train"]
    assert train.outputs["n_rows"]["value"] == 30
    assert "value" not in train.outputs["model"]
    assert train.outputs["model"]["sha256"] == hashlib.sha256(output_bytes(train.outputs["model"])).hexdigest()

    # The API and the run page show the outcome.
    body = Client().get(
        reverse("api:run", args=[run.pk]), HTTP_AUTHORIZATION=f"Bearer {make_token(user)}"
    ).json()
    api_steps = {s["name"]: s for s in body["steps"]}
    assert api_steps["deploy"]["gate"] == deploy.gate
    assert api_steps["deploy"]["cached_from"] is None
    assert api_steps["train"]["gate"] is None
    web = Client()
    web.force_login(user)
    html = web.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "Gate false" in html and "train.metrics.accuracy = 0.53" in html and "params.min_accuracy = 0.8" in html


def test_a_true_gate_runs_the_step(celery_worker):
    user = make_user("alice")
    version = publish(user, spec=gated_spec(), files={"workflow.py": SOURCE})
    run = run_start(user=user, version=version, params={"n": 40})

    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.SUCCEEDED, {n: (s.status, s.error) for n, s in steps.items()}
    assert [s.status for s in steps.values()] == [StepStatus.SUCCEEDED] * 3
    assert steps["deploy"].gate == {
        "expr": GATE, "passed": True,
        "values": {"params.min_accuracy": 0.8, "train.metrics.accuracy": 0.9, "train.outputs.n_rows": 400},
    }
    assert "deploying 400 rows" in log_bytes(steps["deploy"]).decode()
    assert "notify https://models.example/1" in log_bytes(steps["notify"]).decode()


def test_a_gate_on_an_output_that_is_not_a_scalar_fails_the_step(celery_worker):
    user = make_user("alice")
    version = publish(user, spec=gated_spec("train.outputs.model != null"), files={"workflow.py": SOURCE})
    run = run_start(user=user, version=version)

    run = celery_worker.wait_for_run(run.pk)
    steps = steps_of(run)
    assert run.status == RunStatus.FAILED
    assert "deploy" in run.error
    assert steps["deploy"].status == StepStatus.FAILED
    assert steps["deploy"].error == "gate reads train.outputs.model, which is not a number, string or bool"
    assert steps["deploy"].started_at is None
    assert steps["notify"].status == StepStatus.SKIPPED
