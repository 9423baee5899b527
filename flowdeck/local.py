"""Running a workflow in this process, for debugging: live status, then a summary."""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import config
from .errors import APIError, ConfigError, WorkflowError
from .gates import GateError, gate_summary
from .local_steps import LocalSteps
from .selection import SourceRun, StepPlan, find_run, reuse_plan, save_outputs, select_steps
from .spec import SpecError, resolve_params, topo_order
from .tracking import HttpSink, LocalSink, Sink, TeeSink, activate

SYMBOLS = {"running": "▸", "succeeded": "✓", "failed": "✗", "skipped": "–", "stopped": "■", "reused": "↺"}
DONE = ("succeeded", "reused")


@dataclass
class StepResult:
    name: str
    status: str = "pending"
    duration_s: float = 0.0
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None  # {"expr", "passed", "values"} when the step has a gate
    cached_from: dict[str, str] | None = None  # {"run", "step"} when its outputs came from the cache


@dataclass
class LocalRun:
    id: str
    status: str
    params: dict[str, Any]
    steps: dict[str, StepResult]
    folder: Path
    metrics: list[dict] = field(default_factory=list)
    server_run_id: int | None = None  # the run's id on the server, when it was tracked there too

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {name: s.outputs for name, s in self.steps.items()}

    def metric(self, key: str) -> list[float]:
        return [p["value"] for p in self.metrics if p["key"] == key]


def map_outputs(step_name: str, declared: list[str], result: Any) -> dict[str, Any]:
    """A step returns a dict of its outputs, or the value itself when it declares one."""
    if not declared:
        return {}
    if len(declared) == 1 and not (isinstance(result, Mapping) and declared[0] in result):
        return {declared[0]: result}
    if not isinstance(result, Mapping):
        raise WorkflowError(f"Step '{step_name}' must return a dict with keys {declared}, got {type(result).__name__}.")
    missing = [name for name in declared if name not in result]
    if missing:
        raise WorkflowError(f"Step '{step_name}' did not produce its declared output '{missing[0]}'.")
    return {name: result[name] for name in declared}


def _print(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def prepare(
    wf, params: Mapping[str, Any] | None, *, track_dir: str | Path | None = None,
    steps: list[str] | None = None, inputs_from: Any = None, from_step: str | None = None,
    until: str | None = None, selected: set[str] | None = None,
) -> tuple[dict, dict[str, Any], dict[str, StepPlan], SourceRun | None]:
    """Check everything a run needs before anything runs: (spec, params, per-step plan, source run).

    With ``inputs_from``, the source run's params are the base that ``params`` override."""
    spec = wf.spec(fn_ref=lambda s: "local:function")
    runs_dir = Path(track_dir or ".flowdeck/runs")
    source = find_run(runs_dir, inputs_from) if inputs_from is not None else None
    base = dict(source.params) if source else {}
    base.update(params or {})
    try:
        values = resolve_params(spec["params"], base)
    except SpecError as exc:
        raise WorkflowError(exc.message, exc.field) from None
    if selected is None:
        selected = select_steps(spec["steps"], steps=steps, from_step=from_step, until=until)
    return spec, values, reuse_plan(spec["steps"], selected, source), source


def run_local(
    wf, params: Mapping[str, Any] | None, *, quiet: bool = False, track_dir: str | Path | None = None,
    track: bool | None = None, steps: list[str] | None = None, inputs_from: Any = None,
    from_step: str | None = None, until: str | None = None, selected: set[str] | None = None,
) -> LocalRun:
    spec, values, plan, source = prepare(wf, params, track_dir=track_dir, steps=steps, inputs_from=inputs_from,
                                         from_step=from_step, until=until, selected=selected)
    _refuse_subworkflows(wf, plan)
    out = None if quiet else sys.stdout
    run_id = f"local-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder = Path(track_dir or ".flowdeck/runs") / run_id
    sink, server_run_id = _open_sink(wf.name, run_id, folder, track)
    results = {name: StepResult(name) for name in topo_order(spec["steps"])}
    for name, step_plan in plan.items():
        if step_plan.action == "reuse":
            results[name].outputs = source.load_outputs(name, wf.steps[name].outputs)
    runs_dir = Path(track_dir or ".flowdeck/runs")
    extras = LocalSteps(wf=wf, run_id=run_id, cache_dir=runs_dir.parent / "cache", points=lambda: sink.points,
                        ignore=[runs_dir, runs_dir.parent / "cache"])
    _print(out, f"Run {run_id} of {wf.name} — params {json.dumps(values, default=str)}"
           + (f" — inputs from {source.id}" if source else ""))
    started = time.monotonic()
    status = "succeeded"
    try:
        with activate(sink, run_id):
            for name in results:
                action = plan[name].action
                if action == "run":
                    _run_step(wf.steps[name], results, values, out, extras=extras)
                    if results[name].status == "succeeded":
                        warning = save_outputs(folder, name, results[name].outputs)
                        if warning:
                            _print(out, f"    {name}: {warning}")
                else:
                    results[name].status = "reused" if action == "reuse" else "skipped"
                    results[name].error = "" if action == "reuse" else "not selected"
                    if action == "reuse":
                        save_outputs(folder, name, results[name].outputs)
                    _print(out, f"  {SYMBOLS[results[name].status]} {name:<24} {results[name].status} ({plan[name].reason})")
    except KeyboardInterrupt:
        status = "stopped"
        for r in results.values():
            if r.status in ("pending", "running"):
                r.status = "stopped"
        _print(out, "Interrupted: the run is marked stopped.")
        _finish(folder, run_id, wf.name, status, values, results)
        _end_sink(sink, server_run_id, status)
        raise
    finally:
        sink.close()
    if any(r.status == "failed" for r in results.values()):
        status = "failed"
    _finish(folder, run_id, wf.name, status, values, results, source=source)
    server_url = _end_sink(sink, server_run_id, status)
    took = time.monotonic() - started
    counts = ", ".join(f"{sum(r.status == s for r in results.values())} {s}"
                       for s in ("succeeded", "reused", "failed", "skipped") if any(r.status == s for r in results.values()))
    _print(out, f"Run {run_id} {status} in {took:.2f}s ({counts}). Tracked in {folder}" + (f" and at {server_url}" if server_url else ""))
    return LocalRun(id=run_id, status=status, params=values, steps=results, folder=folder, metrics=sink.points,
                    server_run_id=server_run_id)


def _refuse_subworkflows(wf, plan: dict[str, StepPlan]) -> None:
    """A sub-workflow step starts a child run of a published workflow, which only the server
    can do; a local run that would run one is refused before anything runs."""
    for name, step_plan in plan.items():
        uses = getattr(wf.steps[name], "uses", None)
        if uses and step_plan.action == "run":
            raise WorkflowError(
                f"Step '{name}' runs the published workflow {uses} as a child run, which only the server does; "
                f"publish this workflow and run it there, or run other steps locally with steps=[...] and inputs_from=.",
                f"steps.{name}.uses",
            )


def _open_sink(workflow: str, run_id: str, folder: Path, track: bool | None) -> tuple[Sink, int | None]:
    """The local folder, and also a run on the server when one is configured (``flowdeck
    login`` or FLOWDECK_URL + FLOWDECK_TOKEN) and ``track`` is not False. The server run is
    in the experiment named after the workflow. A server that cannot be reached falls back
    to local tracking with a warning, unless ``track=True`` asked for it explicitly."""
    local = LocalSink(folder)
    found = config.load()
    if track is False or not (found.url and found.token):
        if track:
            raise ConfigError("track=True needs a server: run `flowdeck login` or set FLOWDECK_URL and FLOWDECK_TOKEN.")
        return local, None
    from .client import Client

    client = Client(found.url, found.token)
    try:
        created = client.tracked_run_create(
            experiment=workflow, name=run_id, tags={"flowdeck.source": "local", "flowdeck.workflow": workflow}
        )
    except APIError as exc:
        client.close()
        if track:
            raise
        print(f"flowdeck: not tracking to {found.url} ({exc}); tracking locally only.", file=sys.stderr)
        return local, None
    return TeeSink(local, HttpSink(client, created["id"])), created["id"]


def _end_sink(sink: Sink, server_run_id: int | None, status: str) -> str | None:
    """Flush and close the sink, then end the server run (if any) as ``status``; returns its URL."""
    sink.close()
    if server_run_id is None:
        return None
    client = sink.mirrors[0].client
    try:
        client.run_end(server_run_id, status)
        return client.run_url(server_run_id)
    except APIError as exc:
        print(f"flowdeck: could not end server run {server_run_id}: {exc}", file=sys.stderr)
        return None
    finally:
        client.close()


def _run_step(step, results: dict[str, StepResult], values: dict[str, Any], out: TextIO | None,
              extras: LocalSteps | None = None) -> None:
    result = results[step.name]
    blocked = [d for d in step.depends_on if results[d].status not in DONE]
    if blocked:
        result.status = "skipped"
        result.error = f"upstream step '{blocked[0]}' {results[blocked[0]].status}"
        _print(out, f"  {SYMBOLS['skipped']} {step.name:<24} skipped ({result.error})")
        return
    if extras is not None and not _gate_and_cache(step, result, results, values, out, extras):
        return
    points_before = len(extras.points()) if extras is not None and step.cache else 0
    kwargs = {}
    for arg, ref in step.inputs.items():
        head, _, tail = ref.partition(".")
        kwargs[arg] = dict(values) if ref == "params" else values[tail] if head == "params" else results[head].outputs[tail]
    result.status = "running"
    _print(out, f"  {SYMBOLS['running']} {step.name:<24} running")
    started = time.monotonic()
    try:
        result.outputs = map_outputs(step.name, step.outputs, _call_with_retries(step, kwargs, out))
        result.status = "succeeded"
        if extras is not None and step.cache:
            _cache_store(step, result, results, values, out, extras, points_before)
    except KeyboardInterrupt:
        result.status = "stopped"
        raise
    except Exception as exc:
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
        if out is not None:
            traceback.print_exc(file=out)
    finally:
        result.duration_s = time.monotonic() - started
    detail = f"  ({result.error})" if result.error else ""
    _print(out, f"  {SYMBOLS[result.status]} {step.name:<24} {result.status:<10} {result.duration_s:.2f}s{detail}")


def _call_with_retries(step, kwargs: dict[str, Any], out: TextIO | None) -> Any:
    """Call the step, retrying up to ``step.retries`` times as the workers do.
    (``timeout_s`` applies on workers only: a function in this process cannot be killed.)"""
    for attempt in range(step.retries + 1):
        try:
            return step.fn(**kwargs)
        except Exception as exc:
            if attempt >= step.retries:
                raise
            _print(out, f"    {step.name}: attempt {attempt + 1} failed ({type(exc).__name__}: {exc}); retrying")
    raise AssertionError("unreachable")


def _gate_and_cache(step, result: StepResult, results: dict[str, StepResult], values: dict[str, Any],
                    out: TextIO | None, extras: LocalSteps) -> bool:
    """Evaluate the step's gate, then look in the cache. False when the step is settled
    (skipped by its gate, failed gate, or a cache hit) and must not run."""
    if step.when:
        try:
            result.gate = extras.gate(step.when, values, results)
        except GateError as exc:
            result.status, result.error = "failed", exc.message
            _print(out, f"  {SYMBOLS['failed']} {step.name:<24} failed     ({result.error})")
            return False
        if not result.gate["passed"]:
            result.status, result.error = "skipped", f"Gate false: {step.when}"
            _print(out, f"  {SYMBOLS['skipped']} {step.name:<24} skipped (gate false: {gate_summary(result.gate)})")
            return False
        _print(out, f"    {step.name}: gate passed ({gate_summary(result.gate)})")
    if not step.cache:
        return True
    try:
        key = extras.key(_step_spec(step), values, results)
    except Exception as exc:  # e.g. an unreadable source folder: run the step, uncached
        _print(out, f"    {step.name}: not cached ({type(exc).__name__}: {exc})")
        return True
    if key is None:
        _print(out, f"    {step.name}: not cached (an input cannot be pickled)")
        return True
    hit = extras.lookup(key, step.name)
    while extras.warnings:
        _print(out, f"    {extras.warnings.pop(0)}")
    if hit is None:
        return True
    result.outputs, meta = hit
    result.status = "succeeded"
    result.cached_from = {"run": meta.get("run", ""), "step": meta.get("step", step.name)}
    _print(out, f"  {SYMBOLS['succeeded']} {step.name:<24} cached (from {result.cached_from['run']})")
    return False


def _cache_store(step, result: StepResult, results: dict[str, StepResult], values: dict[str, Any],
                 out: TextIO | None, extras: LocalSteps, points_before: int) -> None:
    try:
        key = extras.key(_step_spec(step), values, results)
    except Exception as exc:
        key, problem = None, f"not cached ({type(exc).__name__}: {exc})"
    else:
        problem = "not cached (an input cannot be pickled)"
    if key is not None:
        problem = extras.store(key, step.name, result.outputs, extras.points()[points_before:])
    if problem:
        _print(out, f"    {step.name}: {problem}")


def _step_spec(step) -> dict[str, Any]:
    return {"name": step.name, "inputs": step.inputs}


def _finish(folder: Path, run_id: str, name: str, status: str, values: dict, results: dict[str, StepResult],
            source: SourceRun | None = None) -> None:
    record = {
        "id": run_id,
        "inputs_from": source.id if source else None,
        "workflow": name,
        "status": status,
        "params": values,
        "steps": {n: {"status": r.status, "duration_s": r.duration_s, "error": r.error, "gate": r.gate,
                      "cached_from": r.cached_from} for n, r in results.items()},
    }
    (folder / "run.json").write_text(json.dumps(record, indent=1, default=str))
