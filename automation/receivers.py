"""Signal receivers: they only hand the event to a task, which calls the service."""
from __future__ import annotations


def on_run_finished(sender, run_id: int, **kwargs) -> None:
    from .selectors import is_scheduled_run
    from .tasks import schedule_run_finished_task

    # Most runs are not scheduled: one indexed lookup spares them a task.
    if is_scheduled_run(run_id):
        schedule_run_finished_task.delay(run_id)
