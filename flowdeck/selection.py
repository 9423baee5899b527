"""Partial runs, resume and plans for local runs.

A local run keeps each succeeded step's outputs under ``<run folder>/outputs/<step>/``.
A later run can then run only some steps, taking the outputs of the steps it does not run
from that earlier run (``inputs_from``); ``resume`` does this for the failed part of a run;
``plan`` says, before anything runs, what each step will do and why.
"""
from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WorkflowError
from .spec import ancestors

RUN_RECORD = "run.json"


@dataclass
class SourceRun:
    """An earlier local run: its record and where its outputs are."""

    id: str
    folder: Path
    params: dict[str, Any]
    statuses: dict[str, str]

    def has_outputs(self, step: str) -> bool:
        return self.statuses.get(step) in ("succeeded", "reused") and (self.folder / "outputs" / step).is_dir()

    def load_outputs(self, step: str, names: Iterable[str]) -> dict[str, Any]:
        outputs = {}
        for name in names:
            path = self.folder / "outputs" / step / f"{name}.pkl"
            if not path.is_file():
                raise WorkflowError(
                    f"Run {self.id} has no stored output '{name}' of step '{step}' (it could not be pickled, "
                    f"or the step did not succeed there).", f"steps.{step}.outputs")
            with open(path, "rb") as fh:
                outputs[name] = pickle.load(fh)
        return outputs


def find_run(runs_dir: Path, ref: Any) -> SourceRun:
    """A local run by id, folder, or LocalRun object."""
    if getattr(ref, "folder", None):
        folder = Path(ref.folder)
    elif (runs_dir / str(ref)).is_dir():
        folder = runs_dir / str(ref)
    else:
        folder = Path(str(ref))
    record_path = folder / RUN_RECORD
    if not record_path.is_file():
        raise WorkflowError(f"No local run '{getattr(ref, 'id', ref)}' under {runs_dir} (looked for {record_path}).",
                            "inputs_from")
    record = json.loads(record_path.read_text())
    return SourceRun(id=record["id"], folder=folder, params=record.get("params") or {},
                     statuses={n: s["status"] for n, s in (record.get("steps") or {}).items()})


def descendants(deps: Mapping[str, list[str]], name: str) -> set[str]:
    return {other for other in deps if name in ancestors(deps, other)}


def select_steps(
    spec_steps: list[dict], *, steps: Iterable[str] | None = None, from_step: str | None = None,
    until: str | None = None,
) -> set[str] | None:
    """The steps to run: ``steps`` as given, or the range from ``from_step`` (and everything
    after it) up to ``until`` (and everything before it). None means all of them."""
    deps = {s["name"]: list(s.get("depends_on") or []) for s in spec_steps}
    for label, name in (("from_step", from_step), ("until", until)):
        if name is not None and name not in deps:
            raise WorkflowError(f"{label}: there is no step '{name}' (steps: {', '.join(deps)}).", label)
    if steps is not None:
        chosen = set(steps)
        unknown = sorted(chosen - set(deps))
        if unknown:
            raise WorkflowError(f"steps: there is no step '{unknown[0]}' (steps: {', '.join(deps)}).", "steps")
        if from_step or until:
            raise WorkflowError("Give either steps=[...] or from_step/until, not both.", "steps")
        return chosen
    if from_step is None and until is None:
        return None
    chosen = set(deps)
    if from_step is not None:
        chosen &= {from_step} | descendants(deps, from_step)
    if until is not None:
        chosen &= {until} | ancestors(deps, until)
    if not chosen:
        raise WorkflowError(f"No step lies between '{from_step}' and '{until}'.", "until")
    return chosen


def resume_selection(spec_steps: list[dict], source: SourceRun) -> set[str]:
    """Steps that did not succeed in ``source``, and everything downstream of them."""
    deps = {s["name"]: list(s.get("depends_on") or []) for s in spec_steps}
    todo = {n for n in deps if source.statuses.get(n) not in ("succeeded", "reused")}
    for name in list(todo):
        todo |= descendants(deps, name)
    return todo


@dataclass
class StepPlan:
    step: str
    action: str  # "run", "reuse", "cached", "skip"
    reason: str


def reuse_plan(spec_steps: list[dict], selected: set[str] | None, source: SourceRun | None) -> dict[str, StepPlan]:
    """For each step: run it, reuse its outputs from ``source``, or leave it out. Raises
    WorkflowError naming the step when a step to run needs outputs nobody can provide."""
    names = [s["name"] for s in spec_steps]
    if selected is None:
        return {n: StepPlan(n, "run", "selected (all steps)") for n in names}
    deps = {s["name"]: list(s.get("depends_on") or []) for s in spec_steps}
    needed: set[str] = set()
    for name in selected:
        needed |= ancestors(deps, name) - selected
    plan = {}
    for name in names:
        if name in selected:
            plan[name] = StepPlan(name, "run", "selected")
        elif name in needed:
            if source is None or not source.has_outputs(name):
                where = f"run {source.id}, where it {source.statuses.get(name, 'did not run')}" if source else "no run (pass inputs_from=<run id>)"
                readers = sorted(n for n in selected if name in ancestors(deps, n))
                raise WorkflowError(
                    f"Step '{readers[0]}' needs step '{name}', which is not selected, and its outputs come from {where}.",
                    f"steps.{name}")
            plan[name] = StepPlan(name, "reuse", f"outputs of run {source.id}")
        else:
            plan[name] = StepPlan(name, "skip", "not selected")
    return plan


def save_outputs(folder: Path, step: str, outputs: Mapping[str, Any]) -> str | None:
    """Keep a step's outputs for later partial runs; returns a warning if one cannot be pickled."""
    target = folder / "outputs" / step
    target.mkdir(parents=True, exist_ok=True)
    for name, value in outputs.items():
        try:
            (target / f"{name}.pkl").write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as exc:
            return f"output '{name}' was not kept for partial runs ({type(exc).__name__}: {exc})"
    return None
