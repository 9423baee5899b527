"""Signal receivers: they only hand the event to a task, which calls the service."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def on_run_finished(sender, run_id: int, **kwargs) -> None:
    """A run that ended with metrics gets its chart samples made now, in the background, so
    the first comparison that includes it does not wait for them. Only a speed-up: when the
    broker cannot take the task, the first comparison makes them instead, and the run's end
    (already committed) is not disturbed."""
    from runs.models import MetricSummary

    from .tasks import series_warm_task

    try:
        if MetricSummary.objects.filter(run_id=run_id).exists():
            series_warm_task.delay(run_id)
    except Exception:
        log.warning("could not queue the chart samples of run %s; they are made when it is compared", run_id,
                    exc_info=True)
