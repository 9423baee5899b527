"""Sub-workflow steps in the SDK: declaring them, the spec they make, their errors, plans and
local runs (which refuse to run them: a child run needs the server)."""
from __future__ import annotations

import pytest

from flowdeck import Param, Workflow, WorkflowError
from flowdeck.spec import SpecError, validate_spec

CALLS: list[str] = []


def make_workflow() -> Workflow:
    wf = Workflow("pipeline", params=[Param("lr", float, 0.1)])

    @wf.step(outputs=["rows"])
    def load():
        CALLS.append("load")
        return 500

    train = wf.subworkflow(
        "train", uses="demo/logistic-train@1.0.0", depends_on=[load],
        inputs={"lr": "params.lr", "rows": "load.rows"}, params={"epochs": 5},
        outputs={"model": "fit.model"}, description="Fits the model.",
    )

    @wf.step(depends_on=[train])
    def evaluate(model):
        CALLS.append("evaluate")

    return wf


@pytest.fixture(autouse=True)
def _clean():
    CALLS.clear()


def test_it_declares_a_sub_workflow_step_in_the_spec():
    wf = make_workflow()
    spec = validate_spec(wf.spec(fn_ref=lambda s: "workflow:fn"))
    load, train, evaluate = spec["steps"]
    assert train == {
        "name": "train", "fn": None, "uses": "demo/logistic-train@1.0.0", "depends_on": ["load"],
        "inputs": {"lr": "params.lr", "rows": "load.rows"}, "params": {"epochs": 5},
        "outputs": ["model"], "outputs_from": {"model": "fit.model"},
        "retries": 0, "timeout_s": None, "cache": False, "when": None, "description": "Fits the model.",
    }
    # Downstream steps bind to its outputs by name, as to any step's.
    assert evaluate["inputs"] == {"model": "train.model"} and evaluate["depends_on"] == ["train"]
    assert load["fn"] == "workflow:fn"


def test_its_errors_name_the_step_and_field():
    wf = make_workflow()
    cases = [
        (dict(uses="demo/logistic-train"), "steps.s.uses", "write namespace/name@MAJOR.MINOR.PATCH"),
        (dict(uses="demo/logistic-train@v1"), "steps.s.uses", "write namespace/name@MAJOR.MINOR.PATCH"),
        (dict(uses="a/b@1.0.0", depends_on=["ghost"]), "steps.s.depends_on", "depends on unknown step 'ghost'"),
        (dict(uses="a/b@1.0.0", inputs={"x": "ghost.rows"}), "steps.s.inputs.x", "unknown step 'ghost'"),
        (dict(uses="a/b@1.0.0", inputs={"x": "load.rows"}), "steps.s.inputs.x", "does not depend on step 'load'"),
        (dict(uses="a/b@1.0.0", inputs={"x": "params.nope"}), "steps.s.inputs.x", "unknown parameter 'nope'"),
        (dict(uses="a/b@1.0.0", outputs={"m": "fit"}), "steps.s.outputs_from.m", "use '<child step>.<output>'"),
        (dict(uses="a/b@1.0.0", params={"x": float("nan")}), "steps.s.params.x", "must be a JSON value"),
        (dict(uses="a/b@1.0.0", when="params.lr >"), "steps.s.when", "invalid when"),
    ]
    for kwargs, field, message in cases:
        with pytest.raises(WorkflowError) as caught:
            wf.subworkflow("s", **kwargs)
        assert caught.value.field == field, (kwargs, str(caught.value))
        assert message in str(caught.value), (kwargs, str(caught.value))
        assert "s" not in wf.steps  # a refused step is not kept
    with pytest.raises(WorkflowError, match="declared twice"):
        wf.subworkflow("train", uses="a/b@1.0.0")
    with pytest.raises(WorkflowError, match="runs the published workflow demo/logistic-train@1.0.0; it is not a function"):
        wf.steps["train"]()


def test_a_raw_spec_with_a_sub_workflow_step_is_checked_like_any_other():
    base = {"name": "p", "steps": [{"name": "s", "uses": "a/b@1.0.0", "outputs_from": {"m": "fit.m"}}]}
    assert validate_spec(base)["steps"][0]["outputs"] == ["m"]
    for change, field in [({"retries": 2}, "steps.s.retries"), ({"timeout_s": 5}, "steps.s.timeout_s"),
                          ({"resources": "gpu"}, "steps.s.resources"), ({"outputs": ["other"]}, "steps.s.outputs"),
                          ({"inputs": {"bad-name": "params"}}, "steps.s.inputs")]:
        spec = {"name": "p", "steps": [{**base["steps"][0], **change}]}
        with pytest.raises(SpecError) as caught:
            validate_spec(spec)
        assert caught.value.field == field, (change, caught.value.message)


def test_plan_marks_it_and_a_local_run_refuses_it_before_anything_runs(tmp_path, capsys):
    wf = make_workflow()
    plans = {p.step: p for p in wf.plan(track_dir=tmp_path)}
    assert plans["train"].action == "run"
    assert plans["train"].reason.startswith("sub-workflow demo/logistic-train@1.0.0: a child run on the server")
    assert "sub-workflow demo/logistic-train@1.0.0" in capsys.readouterr().out

    with pytest.raises(WorkflowError) as caught:
        wf.run(track_dir=tmp_path, quiet=True)
    assert caught.value.field == "steps.train.uses"
    assert "Step 'train' runs the published workflow demo/logistic-train@1.0.0" in str(caught.value)
    assert CALLS == [] and not list(tmp_path.iterdir())


def test_a_local_run_of_other_steps_still_works(tmp_path):
    wf = make_workflow()
    run = wf.run(track_dir=tmp_path, quiet=True, steps=["load"])
    assert run.status == "succeeded" and CALLS == ["load"]
    assert run.steps["train"].status == "skipped" and run.outputs["load"] == {"rows": 500}
