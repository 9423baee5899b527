"""Sub-workflow steps: a step that runs a published workflow as a child run.

The end-to-end tests use a real Celery worker; the ones about refusing to start a child
(yanked, hidden, recursive) drive run_advance directly, since nothing runs before the
sub-workflow step in those workflows.
"""
from __future__ import annotations

import pickle
import time

import pytest

from core import storage
from core.errors import Conflict
from registry.services import version_yank
from runs.models import Run, RunStatus, StepRun, StepStatus
from runs.stored_logs import log_bytes
from runs.services import subruns
from runs.services.lifecycle import run_advance, run_start, run_stop
from runs.services.operations import run_delete, run_retry
from runs.stored_outputs import output_bytes
from tests.factories import make_spec, make_user, publish

CHILD_SOURCE = '''\
import os


def fit(lr, rows, flag):
    print(f"fit lr={lr} rows={rows}")
    if flag and os.path.exists(flag):
        raise RuntimeError("flag file present")
    return {"model": f"model-{lr}-{rows}"}


def score(model):
    print(f"score {model}")
    return {"score": len(model)}
'''

CHILD_SPEC = make_spec(
    name="child",
    params=[
        {"name": "lr", "type": "float", "default": 0.1},
        {"name": "rows", "type": "int", "default": 10, "min": 1},
        {"name": "flag", "type": "str", "default": ""},
    ],
    steps=[
        {"name": "fit", "fn": "workflow:fit", "inputs": {"lr": "params.lr", "rows": "params.rows", "flag": "params.flag"},
         "outputs": ["model"]},
        {"name": "score", "fn": "workflow:score", "depends_on": ["fit"], "inputs": {"model": "fit.model"},
         "outputs": ["score"]},
    ],
)

PARENT_SOURCE = '''\
def load():
    return {"rows": 7}


def report(model, score):
    print(f"report got {model} scoring {score}")
    return {"seen": model}
'''


def parent_spec(uses: str = "alice/child@1.0.0", **changes) -> dict:
    train = {"name": "train", "uses": uses, "depends_on": ["load"],
             "inputs": {"lr": "params.lr", "rows": "load.rows"}, "params": {"flag": ""},
             "outputs_from": {"model": "fit.model", "score": "score.score"}}
    train.update(changes)
    return make_spec(
        name="parent",
        params=[{"name": "lr", "type": "float", "default": 0.5}],
        steps=[
            {"name": "load", "fn": "workflow:load", "outputs": ["rows"]},
            train,
            {"name": "report", "fn": "workflow:report", "depends_on": ["train"],
             "inputs": {"model": "train.model", "score": "train.score"}, "outputs": ["seen"]},
        ],
    )


def steps_of(run) -> dict[str, StepRun]:
    return {s.name: s for s in run.steps.all()}


def describe(run) -> dict:
    return {n: (s.status, s.error) for n, s in steps_of(run).items()}


def publish_pair(user, parent_changes: dict | None = None, child_source: str = CHILD_SOURCE):
    child = publish(user, spec=CHILD_SPEC, files={"workflow.py": child_source})
    parent = publish(user, spec=parent_spec(**(parent_changes or {})), files={"workflow.py": PARENT_SOURCE})
    return child, parent


# --- end to end, with a worker --------------------------------------------------------------------
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_runs_the_child_with_mapped_params_and_feeds_its_outputs_downstream(celery_worker_factory, client):
    # Outputs in storage (none kept in the rows), so that deleting the parent is seen to
    # remove the child's stored objects too.
    celery_worker = celery_worker_factory(extra_env={"FLOWDECK_INLINE_OUTPUT_MAX_BYTES": "0"})
    user = make_user("alice")
    child_version, version = publish_pair(user)
    run = run_start(user=user, version=version, params={"lr": 0.25})

    run = celery_worker.wait_for_run(run.pk, timeout=90)
    assert run.status == RunStatus.SUCCEEDED, (run.error, describe(run))
    steps = steps_of(run)
    train = steps["train"]
    child = Run.objects.get(parent_step=train)
    # Mapped parameters: a parent param, an upstream output (a JSON scalar) and a literal.
    assert child.asset_version == child_version
    assert child.params == {"lr": 0.25, "rows": 7, "flag": ""}
    assert child.status == RunStatus.SUCCEEDED and child.namespace == run.namespace and child.created_by == user
    assert train.worker == f"sub-run {child.pk}" and train.attempt == 1
    # The parent step's outputs are the child's stored objects, not copies.
    child_steps = steps_of(child)
    assert train.outputs["model"] == child_steps["fit"].outputs["model"]
    assert train.outputs["model"]["key"].startswith(f"runs/{child.pk}/")
    assert pickle.loads(output_bytes(train.outputs["model"])) == "model-0.25-7"
    assert train.outputs["score"]["value"] == len("model-0.25-7")
    # The downstream step received the child's output.
    report = steps["report"]
    assert report.outputs["seen"]["value"] == "model-0.25-7"
    assert pickle.loads(output_bytes(report.outputs["seen"])) == "model-0.25-7"
    assert "report got model-0.25-7 scoring 12" in log_bytes(report).decode()
    assert train.started_at <= child.started_at <= child.finished_at <= train.finished_at <= report.started_at

    # The API: the parent's step names its child run, the child names its parent.
    client.force_login(user)
    body = client.get(f"/api/v1/runs/{run.pk}").json()
    by_name = {s["name"]: s for s in body["steps"]}
    assert by_name["train"]["child_run"] == child.pk and by_name["load"]["child_run"] is None
    assert body["parent"] is None
    assert client.get(f"/api/v1/runs/{child.pk}").json()["parent"] == {"run": run.pk, "step": "train"}

    # The pages: a link to the child run and its steps on the parent's, a link back on the child's.
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert f'href="/runs/{child.pk}/"' in page and "sub-workflow" in page
    assert f'href="/runs/{child.pk}/#step-fit"' in page and f'href="/runs/{child.pk}/#step-score"' in page
    assert 'class="dag-node status-succeeded dag-sub" data-step="train"' in page
    child_page = client.get(f"/runs/{child.pk}/").content.decode()
    assert f'href="/runs/{run.pk}/#step-train"' in child_page and "Part of" in child_page

    # A child is deleted with its parent, never alone; its stored objects go too.
    with pytest.raises(Conflict, match=f"delete run {run.pk} instead"):
        run_delete(user=user, run=child)
    with pytest.raises(Conflict, match=f"is the sub-workflow of run {run.pk} \\(step 'train'\\); retry run {run.pk} instead"):
        run_retry(user=user, run=child)
    assert list(storage.list_keys(f"runs/{child.pk}/"))
    removed = run_delete(user=user, run=run)
    assert removed >= 4
    assert not Run.objects.filter(pk__in=[run.pk, child.pk]).exists()
    assert not list(storage.list_keys(f"runs/{child.pk}/")) and not list(storage.list_keys(f"runs/{run.pk}/"))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_failing_child_fails_the_step_skips_downstream_and_a_retry_starts_a_fresh_child(celery_worker, tmp_path):
    user = make_user("alice")
    flag = tmp_path / "fail-now"
    flag.write_text("x")
    _child, version = publish_pair(user, {"params": {"flag": str(flag)}})
    run = celery_worker.wait_for_run(run_start(user=user, version=version).pk, timeout=90)

    assert run.status == RunStatus.FAILED
    steps = steps_of(run)
    first = Run.objects.get(parent_step=steps["train"])
    assert first.status == RunStatus.FAILED and "fit" in first.error
    assert steps["load"].status == StepStatus.SUCCEEDED
    assert steps["train"].status == StepStatus.FAILED
    assert steps["train"].error == f"Child run {first.pk} failed: Step 'fit' failed."
    assert steps["train"].outputs == {}
    assert steps["report"].status == StepStatus.SKIPPED and "train" in steps["report"].error

    flag.unlink()
    run_retry(user=user, run=run)
    run = celery_worker.wait_for_run(run.pk, timeout=90)
    assert run.status == RunStatus.SUCCEEDED, (run.error, describe(run))
    children = list(Run.objects.filter(parent_step=steps["train"]).order_by("pk"))
    assert [c.pk for c in children][0] == first.pk and len(children) == 2
    assert children[1].status == RunStatus.SUCCEEDED and children[0].status == RunStatus.FAILED
    train = steps_of(run)["train"]
    assert train.worker == f"sub-run {children[1].pk}" and train.outputs["model"]["value"] == "model-0.5-7"


SLOW_CHILD_SOURCE = CHILD_SOURCE.replace('    print(f"fit lr={lr} rows={rows}")\n',
                                         '    print(f"fit lr={lr} rows={rows}", flush=True)\n    import time\n    time.sleep(60)\n')


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_stopping_the_parent_stops_its_child(celery_worker):
    user = make_user("alice")
    _child, version = publish_pair(user, child_source=SLOW_CHILD_SOURCE)
    run = run_start(user=user, version=version)

    def child_fit_running():
        child = Run.objects.filter(parent_step__run=run).first()
        return child if child and child.steps.filter(name="fit", status=StepStatus.RUNNING).exists() else None

    child = celery_worker.wait_for(child_fit_running, timeout=60, what="the child's fit step to run")
    started = time.monotonic()
    run_stop(user=user, run=run)
    run = celery_worker.wait_for_run(run.pk, timeout=30)
    took = time.monotonic() - started

    child.refresh_from_db()
    assert run.status == RunStatus.STOPPED and child.status == RunStatus.STOPPED
    steps = steps_of(run)
    assert steps["train"].status == StepStatus.STOPPED and steps["train"].error == f"Child run {child.pk} was stopped."
    assert steps["report"].status in (StepStatus.STOPPED, StepStatus.SKIPPED)
    assert steps_of(child)["fit"].status == StepStatus.STOPPED
    assert took < 15, took


# --- refusing to start a child (no worker needed) --------------------------------------------------
def _advance_parent(user, spec: dict, **publish_kwargs) -> Run:
    """Publish ``spec`` (its first step is the sub-workflow step) and advance one run of it."""
    version = publish(user, spec=spec, files={"workflow.py": PARENT_SOURCE}, **publish_kwargs)
    run = run_start(user=user, version=version)
    run_advance(run_id=run.pk)
    run_advance(run_id=run.pk)  # what the message sent on commit does
    run.refresh_from_db()
    return run


def first_step_spec(uses: str, name: str = "parent", **train) -> dict:
    return make_spec(name=name, params=[], steps=[
        {"name": "train", "uses": uses, "outputs_from": {"model": "fit.model"}, **train},
        {"name": "report", "fn": "workflow:report", "depends_on": ["train"],
         "inputs": {"model": "train.model", "score": "train.model"}},
    ])


@pytest.mark.django_db
def test_a_yanked_child_version_fails_the_step_with_a_clear_error(user):
    child = publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    version_yank(user=user, version=child, reason="wrong data")
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0"))

    steps = steps_of(run)
    assert run.status == RunStatus.FAILED
    assert steps["train"].status == StepStatus.FAILED
    assert steps["train"].error.startswith("Sub-workflow alice/child@1.0.0: alice/child@1.0.0 is yanked (wrong data)")
    assert steps["report"].status == StepStatus.SKIPPED
    assert not Run.objects.filter(parent_step__run=run).exists()


@pytest.mark.django_db
def test_a_child_the_runs_creator_cannot_see_is_not_found(user, other_user):
    publish(other_user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE}, visibility="private")
    run = _advance_parent(user, first_step_spec("bob/child@1.0.0"))
    train = steps_of(run)["train"]
    assert train.status == StepStatus.FAILED
    assert train.error == "Sub-workflow bob/child@1.0.0: Workflow 'bob/child' was not found."

    missing = _advance_parent(user, first_step_spec("alice/nothing@1.0.0", name="other"))
    assert steps_of(missing)["train"].error == "Sub-workflow alice/nothing@1.0.0: Workflow 'alice/nothing' was not found."


@pytest.mark.django_db
def test_mapping_errors_are_found_before_the_child_runs(user):
    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0", outputs_from={"model": "fit.nope"}))
    assert steps_of(run)["train"].error == (
        "Sub-workflow alice/child@1.0.0: output 'model' comes from 'fit.nope', but step 'fit' of "
        "alice/child@1.0.0 never produces 'nope'.")

    run = _advance_parent(user, first_step_spec("alice/child@1.0.0", name="p2", params={"rows": "many"}))
    assert steps_of(run)["train"].error == "Sub-workflow alice/child@1.0.0: Parameter 'rows' expects an int, got 'many'."
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0", name="p3", params={"epochs": 3}))
    assert "Unknown parameter 'epochs'" in steps_of(run)["train"].error
    assert not Run.objects.filter(parent_step__isnull=False).exists()


@pytest.mark.django_db
def test_an_upstream_output_that_is_not_a_scalar_cannot_be_passed(user):
    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    version = publish(user, spec=parent_spec(), files={"workflow.py": PARENT_SOURCE})
    run = run_start(user=user, version=version)
    # load succeeded with an output recorded without a JSON value (a list, say).
    StepRun.objects.filter(run=run, name="load").update(
        status=StepStatus.SUCCEEDED, outputs={"rows": {"key": "k", "size": 1, "sha256": "0" * 64}})
    run_advance(run_id=run.pk)
    train = steps_of(run)["train"]
    assert train.status == StepStatus.FAILED
    assert "parameter 'rows' reads load.rows, which is not a number, string, bool or null" in train.error


@pytest.mark.django_db
def test_a_parent_parameter_left_unset_leaves_the_childs_default(user):
    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    spec = first_step_spec("alice/child@1.0.0", inputs={"rows": "params.rows", "lr": "params.lr"})
    spec["params"] = [{"name": "rows", "type": "int"}, {"name": "lr", "type": "float", "default": 0.2}]
    run = _advance_parent(user, spec)
    assert Run.objects.get(parent_step__run=run).params == {"lr": 0.2, "rows": 10, "flag": ""}


@pytest.mark.django_db
def test_a_workflow_that_uses_itself_is_refused(user):
    run = _advance_parent(user, first_step_spec("alice/parent@1.0.0"))
    train = steps_of(run)["train"]
    assert train.status == StepStatus.FAILED
    assert "alice/parent@1.0.0 would run inside itself" in train.error
    assert "cannot use itself, directly or through another" in train.error


@pytest.mark.django_db
def test_a_workflow_that_uses_itself_through_another_is_refused(user):
    chained = {"outputs_from": {"model": "train.model"}}  # each uses another of the same shape
    publish(user, spec=first_step_spec("alice/a@1.0.0", name="b", **chained), files={"workflow.py": PARENT_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/b@1.0.0", name="a", **chained))
    assert steps_of(run)["train"].status == StepStatus.RUNNING
    child = Run.objects.get(parent_step__run=run)
    run_advance(run_id=child.pk)
    train = steps_of(child)["train"]
    assert train.status == StepStatus.FAILED
    assert f"(run {run.pk} (alice/a@1.0.0) → run {child.pk} (alice/b@1.0.0) → alice/a@1.0.0)" in train.error


@pytest.mark.django_db
def test_nesting_is_bounded(user, monkeypatch):
    monkeypatch.setattr(subruns, "MAX_DEPTH", 2)
    chained = {"outputs_from": {"model": "train.model"}}
    for level in range(3, 0, -1):
        publish(user, spec=first_step_spec(f"alice/w{level + 1}@1.0.0", name=f"w{level}", **chained),
                files={"workflow.py": PARENT_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/w1@1.0.0", name="w0", **chained))
    for _ in range(2):
        run = Run.objects.get(parent_step__run=run)
        run_advance(run_id=run.pk)
    train = steps_of(run)["train"]
    assert train.status == StepStatus.FAILED
    assert train.error.startswith("Sub-workflow alice/w3@1.0.0: Sub-workflows nest deeper than 2 levels")


@pytest.mark.django_db
def test_a_resent_dispatch_starts_no_second_child(user):
    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0"))
    train = StepRun.objects.get(run=run, name="train")
    spec = next(s for s in run.asset_version.spec["steps"] if s["name"] == "train")
    assert subruns.subrun_start(train, spec) is None
    assert Run.objects.filter(parent_step=train).count() == 1


@pytest.mark.django_db
def test_a_late_message_about_an_old_child_changes_nothing(user):
    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0"))
    child = Run.objects.get(parent_step__run=run)
    assert subruns.subrun_finished(child_run_id=child.pk) is False  # not final yet
    Run.objects.filter(pk=child.pk).update(status=RunStatus.FAILED, error="Step 'fit' failed.")
    StepRun.objects.filter(run=run, name="train").update(worker="sub-run 999999")  # a newer child runs it now
    assert subruns.subrun_finished(child_run_id=child.pk) is False
    assert steps_of(run)["train"].status == StepStatus.RUNNING


@pytest.mark.django_db
def test_a_gate_downstream_reads_the_child_runs_metrics(user):
    from runs.models import MetricSummary

    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    spec = first_step_spec("alice/child@1.0.0")
    spec["steps"][1]["when"] = "train.metrics.accuracy >= 0.9 and train.outputs.model == 'm'"
    run = _advance_parent(user, spec)
    child = Run.objects.get(parent_step__run=run)
    # The child ran: its fit step made the model and the run logged an accuracy.
    StepRun.objects.filter(run=child).update(status=StepStatus.SUCCEEDED)
    StepRun.objects.filter(run=child, name="fit").update(outputs={"model": {"key": "k", "size": 1, "sha256": "0" * 64, "value": "m"}})
    MetricSummary.objects.create(run=child, key="accuracy", last=0.93, last_step=0, min=0.93, max=0.93, count=1)
    run_advance(run_id=child.pk)
    child.refresh_from_db()
    assert child.status == RunStatus.SUCCEEDED

    assert subruns.subrun_finished(child_run_id=child.pk) is True
    report = steps_of(run)["report"]
    assert report.status == StepStatus.QUEUED, report.error
    assert report.gate["passed"] is True and report.gate["values"] == {"train.metrics.accuracy": 0.93, "train.outputs.model": "m"}


@pytest.mark.django_db
def test_the_reaper_settles_a_step_whose_child_ended_unnoticed(user):
    from datetime import timedelta

    from django.utils import timezone

    from runs.services.reaper import steps_reap

    publish(user, spec=CHILD_SPEC, files={"workflow.py": CHILD_SOURCE})
    run = _advance_parent(user, first_step_spec("alice/child@1.0.0"))
    child = Run.objects.get(parent_step__run=run)
    # The child failed, and whoever ended it died before telling the parent.
    Run.objects.filter(pk=child.pk).update(status=RunStatus.FAILED, error="Step 'fit' failed.", finished_at=timezone.now())
    assert subruns.subruns_settle_lost() == 0  # too recent: the normal path may still be on its way
    Run.objects.filter(pk=child.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
    steps_reap()
    run.refresh_from_db()
    assert steps_of(run)["train"].error == f"Child run {child.pk} failed: Step 'fit' failed."
    assert steps_of(run)["report"].status == StepStatus.SKIPPED and run.status == RunStatus.FAILED


@pytest.mark.django_db
def test_publish_rejects_bad_sub_workflow_specs(user):
    from core.errors import InvalidInput

    cases = [
        ({"uses": "alice/child"}, "steps.train.uses", "write namespace/name@MAJOR.MINOR.PATCH"),
        ({"uses": "alice/child@latest"}, "steps.train.uses", "write namespace/name@MAJOR.MINOR.PATCH"),
        ({"uses": "alice/child@1.0.0", "fn": "workflow:load"}, "steps.train.fn", "has both fn and uses"),
        ({"inputs": {"rows": "nope.rows"}}, "steps.train.inputs.rows", "reads output 'rows' of unknown step 'nope'"),
        ({"inputs": {"rows": "params.nope"}}, "steps.train.inputs.rows", "reads unknown parameter 'nope'"),
        ({"depends_on": ["ghost"]}, "steps.train.depends_on", "depends on unknown step 'ghost'"),
        ({"outputs_from": {"model": "fit"}}, "steps.train.outputs_from.model", "use '<child step>.<output>'"),
        ({"params": {"lr": 1}}, "steps.train.params.lr", "sets child parameter 'lr' twice"),
        ({"cache": True}, "steps.train.cache", "cache applies to the steps of the child workflow"),
    ]
    for change, field, message in cases:
        with pytest.raises(InvalidInput) as caught:
            publish(user, spec=parent_spec(**change), files={"workflow.py": PARENT_SOURCE})
        assert caught.value.field == field, (change, caught.value.message)
        assert message in caught.value.message, (change, caught.value.message)
    # Published as it was written: the step's fields are kept.
    stored = publish(user, spec=parent_spec(), files={"workflow.py": PARENT_SOURCE}).spec["steps"][1]
    assert stored["uses"] == "alice/child@1.0.0" and stored["fn"] is None
    assert stored["outputs"] == ["model", "score"] and stored["outputs_from"] == {"model": "fit.model", "score": "score.score"}
    assert stored["inputs"] == {"lr": "params.lr", "rows": "load.rows"} and stored["params"] == {"flag": ""}


def test_the_dag_draws_a_sub_workflow_step_as_one_marked_node():
    from registry.dag import dag_svg

    svg = str(dag_svg(parent_spec()["steps"], statuses={"train": "running"}))
    assert svg.count('class="dag-node') == 3
    assert '<g class="dag-node status-running dag-sub" data-step="train"' in svg
    assert "<title>train (running) · sub-workflow alice/child@1.0.0</title>" in svg
    assert '<g class="dag-node" data-step="load"' in svg
