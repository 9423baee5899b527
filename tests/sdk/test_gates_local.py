"""Quality gates (``when=``) on local runs, and their checks when a workflow is defined."""
from __future__ import annotations

import json

import pytest

from flowdeck import Param, Workflow, WorkflowError, log_metric
from flowdeck.spec import SpecError, validate_spec


def make_workflow(when: str, *, accuracy: float = 0.71, model=lambda: "weights") -> Workflow:
    wf = Workflow("gated", params=[Param("min_accuracy", float, 0.8), Param("tags", list, ["prod"])])

    @wf.step(outputs=["n_rows", "model"])
    def train():
        log_metric("accuracy", 0.1, step=0)
        log_metric("accuracy", accuracy, step=1)
        return {"n_rows": 120, "model": model()}

    @wf.step(depends_on=["train"], when=when)
    def deploy():
        print("deployed")

    @wf.step(depends_on=["deploy"])
    def notify():
        print("notified")

    return wf


def test_a_false_gate_skips_the_step_and_what_follows_and_the_run_succeeds(tmp_path, capsys):
    wf = make_workflow("train.metrics.accuracy >= params.min_accuracy")
    run = wf.run(track_dir=tmp_path / "runs", track=False)

    assert run.status == "succeeded"
    assert {n: s.status for n, s in run.steps.items()} == {"train": "succeeded", "deploy": "skipped", "notify": "skipped"}
    deploy = run.steps["deploy"]
    assert deploy.gate == {
        "expr": "train.metrics.accuracy >= params.min_accuracy",
        "passed": False,
        "values": {"params.min_accuracy": 0.8, "train.metrics.accuracy": 0.71},  # the last point, not the first
    }
    assert deploy.error == "Gate false: train.metrics.accuracy >= params.min_accuracy"
    assert run.steps["notify"].error == "upstream step 'deploy' skipped"
    assert run.steps["notify"].gate is None

    printed = capsys.readouterr().out
    assert "– deploy" in printed and "skipped (gate false: train.metrics.accuracy >= params.min_accuracy" in printed
    assert "train.metrics.accuracy = 0.71" in printed
    assert "deployed" not in printed and "notified" not in printed

    record = json.loads((run.folder / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert record["steps"]["deploy"]["gate"] == deploy.gate
    assert record["steps"]["deploy"]["status"] == "skipped"


def test_a_true_gate_runs_the_step(tmp_path, capsys):
    wf = make_workflow("train.metrics.accuracy >= params.min_accuracy and train.outputs.n_rows > 100 and 'prod' in params.tags")
    run = wf.run(params={"min_accuracy": 0.7}, track_dir=tmp_path / "runs", track=False)

    assert run.status == "succeeded"
    assert [s.status for s in run.steps.values()] == ["succeeded"] * 3
    assert run.steps["deploy"].gate == {
        "expr": "train.metrics.accuracy >= params.min_accuracy and train.outputs.n_rows > 100 and 'prod' in params.tags",
        "passed": True,
        "values": {"params.min_accuracy": 0.7, "params.tags": ["prod"], "train.metrics.accuracy": 0.71,
                   "train.outputs.n_rows": 120},
    }
    printed = capsys.readouterr().out
    assert "deploy: gate passed" in printed and "deployed" in printed and "notified" in printed


def test_a_gate_that_reads_a_non_scalar_output_fails_the_step(tmp_path):
    wf = make_workflow("train.outputs.model == 'x'", model=lambda: {"weights": [1, 2]})
    run = wf.run(track_dir=tmp_path / "runs", track=False)

    assert run.status == "failed"
    assert run.steps["deploy"].status == "failed"
    assert run.steps["deploy"].error == "gate reads train.outputs.model, which is not a number, string or bool"
    assert run.steps["notify"].status == "skipped"


def test_a_gate_that_cannot_be_decided_fails_the_step(tmp_path):
    run = make_workflow("train.metrics.f1 > 0.5").run(track_dir=tmp_path / "runs", track=False)
    assert run.steps["deploy"].status == "failed"
    assert run.steps["deploy"].error == "gate reads train.metrics.f1, but no metric 'f1' was logged"

    run = make_workflow("train.outputs.model > 1").run(track_dir=tmp_path / "runs", track=False)
    assert run.steps["deploy"].status == "failed"
    assert "cannot compare string 'weights' with number 1" in run.steps["deploy"].error

    run = make_workflow("train.outputs.n_rows").run(track_dir=tmp_path / "runs", track=False)
    assert run.steps["deploy"].error == "gate 'train.outputs.n_rows' gave 120, not true or false"


# --- checks at definition -----------------------------------------------------------------------
def test_a_syntax_error_is_reported_at_definition_with_the_step_and_position():
    with pytest.raises(WorkflowError) as info:
        make_workflow("train.metrics.accuracy >= ")
    assert info.value.field == "steps.deploy.when"
    assert info.value.message == "Step 'deploy' has an invalid when: expected a value at position 26, got the end."


@pytest.mark.parametrize(
    "when, message",
    [
        ("params.nope > 1", "Step 'deploy' gate reads unknown parameter 'nope'."),
        ("ghost.metrics.acc > 1", "Step 'deploy' gate reads 'ghost.metrics.acc' of unknown step 'ghost'."),
        ("train.outputs.weights > 1", "Step 'deploy' gate reads output 'weights', which step 'train' never produces."),
        ("accuracy > 1", "Step 'deploy' gate reads 'accuracy'; use params.<name>, <step>.metrics.<key> or <step>.outputs.<name>."),
        ("train.model > 1", "Step 'deploy' gate reads 'train.model'; use params.<name>"),
        ("deploy.metrics.acc > 1", "Step 'deploy' gate reads 'deploy.metrics.acc' but does not depend on step 'deploy'."),
    ],
)
def test_a_gate_must_read_params_or_ancestors(when, message):
    with pytest.raises(WorkflowError) as info:
        make_workflow(when)
    assert info.value.field == "steps.deploy.when"
    assert info.value.message.startswith(message)


def test_a_gate_cannot_read_a_step_that_is_not_an_ancestor():
    wf = Workflow("siblings")

    @wf.step(outputs=["x"])
    def a():
        return 1

    @wf.step(outputs=["y"])
    def b():
        return 2

    with pytest.raises(WorkflowError) as info:
        @wf.step(depends_on=["a"], when="a.outputs.x > 0 and b.outputs.y > 0")
        def c():
            pass
    assert info.value.field == "steps.c.when"
    assert info.value.message == "Step 'c' gate reads 'b.outputs.y' but does not depend on step 'b'."
    assert "c" not in wf.steps  # a refused step is not kept

    @wf.step(depends_on=["a"])
    def d():
        pass

    @wf.step(depends_on=["d"], when="a.outputs.x > 0")  # a grandparent is an ancestor too
    def e():
        pass

    assert wf.spec(fn_ref=lambda s: "m:f")["steps"][-1]["when"] == "a.outputs.x > 0"


def test_the_server_checks_the_same_spec():
    spec = {
        "name": "w",
        "params": [{"name": "p", "type": "int", "default": 1}],
        "steps": [{"name": "a", "fn": "m:a"}, {"name": "b", "fn": "m:b", "depends_on": ["a"], "when": "a.metrics.acc > params.p"}],
    }
    assert validate_spec(spec)["steps"][1]["when"] == "a.metrics.acc > params.p"
    assert validate_spec(spec)["steps"][0]["when"] is None
    for when, field_message in [(42, "non-empty expression string"), ("  ", "non-empty expression string"), ("(", "position 1")]:
        spec["steps"][1]["when"] = when
        with pytest.raises(SpecError) as info:
            validate_spec(spec)
        assert info.value.field == "steps.b.when"
        assert field_message in info.value.message
