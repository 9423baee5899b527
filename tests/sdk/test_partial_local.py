"""Partial runs, resume and plan, on local runs."""
from __future__ import annotations

import pytest

from flowdeck import Param, Workflow, WorkflowError

CALLS: list[str] = []


def make_workflow(fail_evaluate: bool = False) -> Workflow:
    wf = Workflow("partial", params=[Param("n", int, 3), Param("scale", float, 2.0)])

    @wf.step(outputs=["rows"])
    def load(n: int):
        CALLS.append("load")
        return list(range(n))

    @wf.step(depends_on=["load"], outputs=["total"])
    def train(rows, scale: float):
        CALLS.append("train")
        return sum(rows) * scale

    @wf.step(depends_on=["train"], outputs=["report"])
    def evaluate(total):
        CALLS.append("evaluate")
        if fail_evaluate:
            raise RuntimeError("evaluation data missing")
        return f"total={total}"

    return wf


@pytest.fixture(autouse=True)
def _clean():
    CALLS.clear()


def test_it_runs_only_named_steps_with_inputs_from_an_earlier_run(tmp_path):
    wf = make_workflow()
    first = wf.run(track_dir=tmp_path, quiet=True, track=False)
    CALLS.clear()
    second = wf.run({"scale": 10.0}, steps=["train", "evaluate"], inputs_from=first.id, track_dir=tmp_path, quiet=True, track=False)
    assert CALLS == ["train", "evaluate"]
    assert second.status == "succeeded"
    assert second.steps["load"].status == "reused"
    assert second.outputs["evaluate"]["report"] == "total=30.0"
    assert second.params == {"n": 3, "scale": 10.0}  # the source run's params, overridden


def test_it_refuses_a_partial_run_whose_inputs_nobody_provides(tmp_path):
    wf = make_workflow()
    with pytest.raises(WorkflowError, match="Step 'train' needs step 'load'"):
        wf.run(steps=["train"], track_dir=tmp_path, quiet=True, track=False)
    assert CALLS == []


def test_it_runs_a_range_of_the_dag(tmp_path):
    wf = make_workflow()
    first = wf.run(track_dir=tmp_path, quiet=True, track=False)
    CALLS.clear()
    ranged = wf.run(from_step="train", until="train", inputs_from=first, track_dir=tmp_path, quiet=True, track=False)
    assert CALLS == ["train"]
    assert ranged.steps["evaluate"].status == "skipped" and ranged.steps["evaluate"].error == "not selected"
    CALLS.clear()
    wf.run(until="train", track_dir=tmp_path, quiet=True, track=False)
    assert CALLS == ["load", "train"]


def test_it_names_unknown_steps(tmp_path):
    wf = make_workflow()
    with pytest.raises(WorkflowError, match="no step 'trian'"):
        wf.run(steps=["trian"], track_dir=tmp_path, quiet=True, track=False)
    with pytest.raises(WorkflowError, match="from_step: there is no step 'x'"):
        wf.run(from_step="x", track_dir=tmp_path, quiet=True, track=False)


def test_it_resumes_a_failed_run_reusing_what_succeeded(tmp_path):
    failed = make_workflow(fail_evaluate=True).run(track_dir=tmp_path, quiet=True, track=False)
    assert failed.status == "failed" and failed.steps["evaluate"].status == "failed"
    CALLS.clear()
    resumed = make_workflow().resume(failed.id, track_dir=tmp_path, quiet=True, track=False)
    assert CALLS == ["evaluate"]
    assert resumed.status == "succeeded"
    assert [resumed.steps[s].status for s in ("load", "train", "evaluate")] == ["reused", "reused", "succeeded"]
    assert resumed.outputs["evaluate"]["report"] == "total=6.0"
    with pytest.raises(WorkflowError, match="nothing to resume"):
        make_workflow().resume(resumed.id, track_dir=tmp_path, quiet=True, track=False)


def test_it_plans_without_running_anything(tmp_path, capsys):
    wf = make_workflow()
    first = wf.run(track_dir=tmp_path, quiet=True, track=False)
    CALLS.clear()
    capsys.readouterr()
    plan = wf.plan(steps=["evaluate"], inputs_from=first.id, track_dir=tmp_path)
    assert CALLS == []
    assert [(p.step, p.action) for p in plan] == [("load", "reuse"), ("train", "reuse"), ("evaluate", "run")]
    printed = capsys.readouterr().out
    assert f"outputs of run {first.id}" in printed


def test_it_plans_cache_hits_and_gates(tmp_path):
    wf = Workflow("planned", params=[Param("n", int, 3), Param("go", bool, False)])

    @wf.step(outputs=["rows"], cache=True)
    def load(n: int):
        CALLS.append("load")
        return list(range(n))

    @wf.step(depends_on=["load"], when="params.go")
    def publish_rows(rows):
        CALLS.append("publish")

    plan = wf.plan(track_dir=tmp_path, quiet=True)
    assert [(p.action, p.step) for p in plan] == [("run", "load"), ("skip", "publish_rows")]
    assert "cache miss" in plan[0].reason and "gate false" in plan[1].reason
    wf.run(track_dir=tmp_path, quiet=True, track=False)
    plan = wf.plan({"go": True}, track_dir=tmp_path, quiet=True)
    assert [(p.action, p.step) for p in plan] == [("cached", "load"), ("run", "publish_rows")]


def test_it_retries_a_failing_step_locally(tmp_path, capsys):
    wf = Workflow("flaky-local")
    attempts: list[int] = []

    @wf.step(outputs=["v"], retries=2)
    def shaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return 1

    run = wf.run(track_dir=tmp_path, track=False)
    assert run.status == "succeeded" and len(attempts) == 3
    assert "attempt 2 failed (ConnectionError: flaky); retrying" in capsys.readouterr().out


def test_ctrl_c_marks_a_local_run_stopped(tmp_path):
    import json

    wf = Workflow("interrupted")

    @wf.step(outputs=["v"])
    def first():
        return 1

    @wf.step(depends_on=["first"])
    def second(v):
        raise KeyboardInterrupt

    @wf.step(depends_on=["second"])
    def third():
        pass

    with pytest.raises(KeyboardInterrupt):
        wf.run(track_dir=tmp_path, quiet=True, track=False)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "stopped"
    assert {n: s["status"] for n, s in record["steps"].items()} == {"first": "succeeded", "second": "stopped", "third": "stopped"}


def test_a_step_that_raises_fails_the_run_naming_it_and_skips_downstream(tmp_path, capsys):
    wf = make_workflow(fail_evaluate=True)
    run = wf.run(track_dir=tmp_path, track=False)
    printed = capsys.readouterr().out
    assert run.status == "failed"
    assert run.steps["evaluate"].error == "RuntimeError: evaluation data missing"
    assert "Traceback (most recent call last)" in printed and "evaluation data missing" in printed
