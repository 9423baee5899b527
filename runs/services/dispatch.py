"""Where a queued step goes: the one place that turns "step N is queued" into a message.

``run_advance`` calls ``step_dispatch`` inside its transaction; the message leaves on commit.
"""
from __future__ import annotations

from ..models import StepRun


def step_dispatch(step: StepRun, spec: dict) -> None:
    from ..tasks import step_execute_task

    step_execute_task.delay_on_commit(step.pk)
