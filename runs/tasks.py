"""Celery entry points. Each takes an id and calls one service."""
from core.tasks import flowdeck_task

from .services.execute import step_execute, steps_execute
from .services.lifecycle import run_advance
from .services.subruns import subrun_finished
from .services.reaper import steps_reap


@flowdeck_task("flowdeck.run_advance")
def run_advance_task(run_id: int) -> None:
    run_advance(run_id=run_id)


@flowdeck_task("flowdeck.subrun_finished")
def subrun_finished_task(run_id: int) -> None:
    subrun_finished(child_run_id=run_id)


@flowdeck_task("flowdeck.step_execute")
def step_execute_task(step_run_id: int) -> None:
    step_execute(step_run_id=step_run_id)


@flowdeck_task("flowdeck.steps_execute")
def steps_execute_task(step_run_ids: list[int]) -> None:
    """A batch of queued steps (a fan-out), run one after another by this worker process."""
    steps_execute(step_run_ids=step_run_ids)


@flowdeck_task("flowdeck.steps_reap", max_retries=0)
def steps_reap_task() -> None:
    steps_reap()
