"""Quality gates across runs: each run's gate outcomes side by side, and the numeric threshold a
gate sets on a metric (``evaluate.metrics.accuracy >= 0.9``) for the trend chart."""
from __future__ import annotations

from collections import defaultdict

from flowdeck.expr import ExprError, Node, parse
from flowdeck.gates import gate_summary
from runs.models import Run, StepRun, StepStatus

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _gates_of(run: Run) -> dict[str, str]:
    spec = run.asset_version.spec if run.asset_version_id else {}
    return {s["name"]: s["when"] for s in spec.get("steps", []) if isinstance(s, dict) and s.get("when")}


def gate_table(runs: list[Run]) -> list[dict]:
    """One row per step that has a gate in any run's workflow, in step order:
    ``{"step", "cells": [per run: None (no such gate) or {"expr", "status", "outcome", "summary"}]}``.
    ``outcome`` is ``passed``, ``false`` (the step was skipped by its gate), ``error`` (the
    gate could not be decided, so the step failed) or ``pending`` (not evaluated yet)."""
    steps: dict[int, dict[str, StepRun]] = defaultdict(dict)
    for step in StepRun.objects.filter(run__in=runs).only("run_id", "name", "status", "gate", "error", "position"):
        steps[step.run_id][step.name] = step
    order: dict[str, int] = {}
    gates_by_run = []
    for run in runs:
        gates = _gates_of(run)
        gates_by_run.append(gates)
        for name in gates:
            step = steps[run.pk].get(name)
            order.setdefault(name, step.position if step else len(order) + 1000)
    rows = []
    for name in sorted(order, key=lambda n: (order[n], n)):
        cells = []
        for run, gates in zip(runs, gates_by_run):
            if name not in gates:
                cells.append(None)
                continue
            step = steps[run.pk].get(name)
            record = step.gate if step else None
            if record:
                outcome = "passed" if record.get("passed") else "false"
            elif step and step.status == StepStatus.FAILED and step.error.lower().startswith("gate"):
                outcome = "error"
            else:
                outcome = "pending"
            cells.append({"expr": gates[name], "status": step.status if step else None, "outcome": outcome,
                          "summary": gate_summary(record) if record else (step.error if outcome == "error" else "")})
        rows.append({"step": name, "cells": cells})
    return rows


def _metric_of(node: Node, metric: str) -> bool:
    if node.op != "name":
        return False
    parts = node.value.split(".")
    return len(parts) >= 3 and parts[1] == "metrics" and ".".join(parts[2:]) == metric


def _bound(node: Node) -> dict | None:
    """A comparison's other side when it is a number (``0.9``, ``-1``) or a parameter."""
    if node.op == "lit" and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return {"value": float(node.value)}
    if node.op == "neg" and node.args[0].op == "lit" and isinstance(node.args[0].value, int | float):
        return {"value": -float(node.args[0].value)}
    if node.op == "name" and node.value.startswith("params.") and node.value.count(".") == 1:
        return {"param": node.value.split(".", 1)[1]}
    return None


def gate_thresholds(expr: str, metric: str) -> list[dict]:
    """Where a gate expression compares ``<step>.metrics.<metric>`` with a constant or a
    parameter: ``[{"op", "value"} or {"op", "param"}]``, the metric on the left (so ``0.9 <=
    x.metrics.acc`` gives ``>= 0.9``). Expressions that do not parse give nothing."""
    try:
        root = parse(expr).root
    except ExprError:
        return []
    found, todo = [], [root]
    while todo:
        node = todo.pop()
        todo.extend(node.args)
        if node.op != "cmp":
            continue
        for i, (op, _pos) in enumerate(node.value):
            left, right = node.args[i], node.args[i + 1]
            if op not in _FLIP:
                continue
            if _metric_of(left, metric) and (bound := _bound(right)):
                found.append({"op": op, **bound})
            elif _metric_of(right, metric) and (bound := _bound(left)):
                found.append({"op": _FLIP[op], **bound})
    return found


def run_thresholds(run: Run, metric: str, cache: dict | None = None) -> list[dict]:
    """The thresholds ``run``'s workflow version gates ``metric`` with, resolved for this run
    (a parameter bound takes the run's value, else the spec's default): ``[{"step", "expr",
    "op", "value"}]``. ``cache`` keeps each version's parsed gates between calls."""
    cache = {} if cache is None else cache
    if run.asset_version_id not in cache:
        spec = run.asset_version.spec if run.asset_version_id else {}
        defaults = {p.get("name"): p.get("default") for p in spec.get("params", []) if isinstance(p, dict)}
        bounds = [{"step": step, "expr": expr, **b} for step, expr in _gates_of(run).items()
                  for b in gate_thresholds(expr, metric)]
        cache[run.asset_version_id] = (bounds, defaults)
    bounds, defaults = cache[run.asset_version_id]
    out = []
    for bound in bounds:
        value = bound.get("value")
        if "param" in bound:
            raw = (run.params or {}).get(bound["param"], defaults.get(bound["param"]))
            value = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if value is not None:
            out.append({"step": bound["step"], "expr": bound["expr"], "op": bound["op"], "value": value})
    return out
