"""Defining a workflow checks each step as it is added, against the steps before it only
(flowdeck.spec.validate_added_step): a generated 2,000-step fan-out is accepted as the
whole-spec check accepts it, and a bad step late in it is refused with the same message."""
from __future__ import annotations

import pytest

from flowdeck import Param, Workflow, WorkflowError
from flowdeck.spec import SpecError, validate_spec


def noop(x=None):
    return 1


def fanout(n: int) -> Workflow:
    wf = Workflow("wide", params=[Param("lr", float, 0.1)])
    wf.step(name="root", outputs=["x"])(noop)
    for i in range(n):
        wf.step(name=f"c{i:04d}", depends_on=["root"], outputs=[f"y{i}"], when="params.lr > 0")(noop)
    wf.step(name="join", depends_on=[f"c{i:04d}" for i in range(n)], outputs=["z"],
            when=f"c{n - 1:04d}.outputs.y{n - 1} == 1")(noop)
    return wf


def test_a_wide_generated_workflow_is_what_the_whole_spec_check_accepts():
    wf = fanout(2000)
    spec = validate_spec(wf.spec(fn_ref=lambda s: "m:f"))
    assert [s["name"] for s in spec["steps"]] == ["root", *[f"c{i:04d}" for i in range(2000)], "join"]
    steps = {s["name"]: s for s in spec["steps"]}
    assert steps["c1999"]["inputs"] == {"x": "root.x"}  # bound to the one upstream step producing it
    assert len(steps["join"]["depends_on"]) == 2000


def _whole_spec_error(wf: Workflow, bad: dict) -> str:
    raw = wf.spec(fn_ref=lambda s: "m:f")
    raw["steps"].append({"fn": "m:f", **bad})
    with pytest.raises(SpecError) as caught:
        validate_spec(raw)
    return caught.value.message


@pytest.mark.parametrize("define, bad", [
    (lambda wf: wf.step(name="late", depends_on=["c0001"], inputs={"x": "c0002.y2"})(noop),
     {"name": "late", "depends_on": ["c0001"], "inputs": {"x": "c0002.y2"}}),
    (lambda wf: wf.step(name="late", depends_on=["c0001"], inputs={"x": "c0001.nope"})(noop),
     {"name": "late", "depends_on": ["c0001"], "inputs": {"x": "c0001.nope"}}),
    (lambda wf: wf.step(name="late", depends_on=["c0001"], inputs={"x": "params.missing"})(noop),
     {"name": "late", "depends_on": ["c0001"], "inputs": {"x": "params.missing"}}),
    (lambda wf: wf.step(name="late", depends_on=["c0001"], when="late.metrics.acc > 1")(noop),
     {"name": "late", "depends_on": ["c0001"], "when": "late.metrics.acc > 1"}),
    (lambda wf: wf.step(name="late", depends_on=["c0001"], when="c0002.outputs.y2 > 1")(noop),
     {"name": "late", "depends_on": ["c0001"], "when": "c0002.outputs.y2 > 1"}),
    (lambda wf: wf.step(name="late", depends_on=["root"], resources="Not A Class!")(noop),
     {"name": "late", "depends_on": ["root"], "resources": "Not A Class!"}),
])
def test_a_bad_step_late_in_a_wide_workflow_is_refused_as_the_whole_spec_check_refuses_it(define, bad):
    wf = fanout(300)
    expected = _whole_spec_error(wf, bad)
    with pytest.raises(WorkflowError) as caught:
        define(wf)
    assert caught.value.message == expected
    assert "late" not in wf.steps  # refused steps are not kept
    wf.step(name="late", depends_on=["c0001"])(noop)  # and the name can be used again
    validate_spec(wf.spec(fn_ref=lambda s: "m:f"))
