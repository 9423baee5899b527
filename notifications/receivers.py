"""Signal receivers: they only hand the event to a task, which does the fan-out."""
from __future__ import annotations


def on_run_finished(sender, run_id: int, **kwargs) -> None:
    from .tasks import notify_run_finished_task

    notify_run_finished_task.delay(run_id)
