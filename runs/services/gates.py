"""Quality gates on the server: the values a step's ``when`` reads, from the database.

The rules (what a name means, how the expression is judged) are the SDK's, in
``flowdeck.gates``, so a gate decides the same way locally and here. Outputs are read only
as the JSON scalars the executor recorded: the server never unpickles a step's output.
"""
from __future__ import annotations

from typing import Any

from flowdeck.gates import GateRef, gate_evaluate, missing_metric_error, not_scalar_error

from ..models import MetricSummary, Run, StepRun
from .subruns import subrun_metrics_run_id


def step_gate(*, run: Run, when: str, steps: dict[str, StepRun]) -> dict[str, Any]:
    """Evaluate ``when`` for a step of ``run`` whose upstream steps have all succeeded.

    Returns ``{"expr", "passed", "values"}``; raises ``flowdeck.gates.GateError`` when the
    gate cannot be decided (a metric never logged, an output that is not a scalar...).
    """

    def lookup(ref: GateRef) -> Any:
        if ref.kind == "param":
            return (run.params or {}).get(ref.key)
        source = steps[ref.step]
        if ref.kind == "metric":
            # Metrics belong to a run. A cached step logged its metrics in the run it ran in.
            metric_run_id = subrun_metrics_run_id(source) or _origin(source).run_id
            last = MetricSummary.objects.filter(run_id=metric_run_id, key=ref.key).values_list("last", flat=True).first()
            if last is None:
                raise missing_metric_error(ref)
            return last
        produced = (source.outputs or {}).get(ref.key) or {}
        if "value" not in produced:
            raise not_scalar_error(ref)
        return produced["value"]

    return gate_evaluate(when, lookup)


def _origin(step: StepRun) -> StepRun:
    return step.cached_from if step.cached_from_id and step.cached_from else step
