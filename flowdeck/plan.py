"""``wf.plan(...)``: what a local run would do, step by step, and why, before anything runs."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .gates import GateError, gate_ref
from .local import StepResult, prepare
from .local_steps import LocalSteps
from .selection import StepPlan


def plan_local(wf, params=None, *, track_dir=None, out=sys.stdout, **selection: Any) -> list[StepPlan]:
    """Return (and print) one StepPlan per step: run, reuse (from ``inputs_from``), cached, or skip.

    A cache hit is predicted when every input of the step is already known (parameters, or
    outputs reused from the source run); a gate over parameters only is evaluated now.
    """
    spec, values, plan, source = prepare(wf, params, track_dir=track_dir, **selection)
    runs_dir = Path(track_dir or ".flowdeck/runs")
    extras = LocalSteps(wf=wf, run_id="plan", cache_dir=runs_dir.parent / "cache", points=list,
                        ignore=[runs_dir, runs_dir.parent / "cache"])
    results = {name: StepResult(name) for name in plan}
    known: set[str] = set()
    for name, step_plan in plan.items():
        if step_plan.action == "reuse":
            results[name].outputs = source.load_outputs(name, wf.steps[name].outputs)
            results[name].status = "reused"
            known.add(name)
    for name, step_plan in plan.items():
        step = wf.steps[name]
        if step_plan.action != "run":
            continue
        if getattr(step, "uses", None):
            step_plan.reason = f"sub-workflow {step.uses}: a child run on the server (a local run refuses it)"
        reads = {ref.partition(".")[0] for ref in step.inputs.values()} - {"params"}
        if step.when:
            refs = [gate_ref(n) for n in _gate_names(step.when)]
            if all(r is not None and r.kind == "param" for r in refs):
                try:
                    gate = extras.gate(step.when, values, results)
                except GateError as exc:
                    plan[name] = StepPlan(name, "run", f"gate cannot be decided: {exc.message}")
                    continue
                if not gate["passed"]:
                    plan[name] = StepPlan(name, "skip", f"gate false now: {step.when}")
                    continue
                step_plan.reason += f"; gate holds ({step.when})"
            else:
                step_plan.reason += f"; runs if its gate holds ({step.when})"
        if step.cache:
            if reads <= known:
                key = extras.key({"name": name, "inputs": step.inputs}, values, results)
                hit = extras.lookup(key, name) if key else None
                if hit is not None:
                    results[name].outputs = hit[0]
                    known.add(name)
                    plan[name] = StepPlan(name, "cached", f"cache hit from {hit[1].get('run')}")
                    continue
                step_plan.reason += "; cache miss (no earlier result for these inputs)"
            else:
                step_plan.reason += "; cache checked once upstream outputs exist"
    if out is not None:
        print(f"Plan for {wf.name}" + (f" with inputs from {source.id}" if source else ""), file=out)
        for p in plan.values():
            print(f"  {p.step:<24} {p.action:<7} {p.reason}", file=out)
    return list(plan.values())


def _gate_names(text: str) -> set[str]:
    from .expr import parse

    return parse(text).names()
