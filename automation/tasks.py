"""Celery entry points: beat sends schedule_fire; a scheduled run's end sends schedule_run_finished."""
from core.tasks import flowdeck_task

from .services import schedule_fire, schedule_run_finished


@flowdeck_task("flowdeck.automation.schedule_fire", bind=True)
def schedule_fire_task(self, schedule_id: int) -> None:
    # The message id makes a redelivered message (acks_late, worker lost) fire once.
    schedule_fire(schedule_id=schedule_id, message_id=self.request.id)


@flowdeck_task("flowdeck.automation.schedule_run_finished")
def schedule_run_finished_task(run_id: int) -> None:
    schedule_run_finished(run_id=run_id)
