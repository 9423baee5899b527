"""Where a queued step goes: the one place that turns "step N is queued" into a message.

``run_advance`` calls ``step_dispatch`` inside its transaction; the message leaves on commit.
"""
from __future__ import annotations

from ..models import StepRun
from ..routing import step_queue


def step_dispatch(step: StepRun, spec: dict) -> None:
    if spec.get("uses"):  # a sub-workflow step: a child run, not a message to a worker
        from .subruns import subrun_start

        subrun_start(step, spec)
        return
    from ..tasks import step_execute_task

    # The queue of the step's resource class: only workers serving that class take it.
    step_execute_task.apply_async_on_commit((step.pk,), queue=step_queue(step))
