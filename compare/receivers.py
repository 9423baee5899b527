"""Signal receivers: they only hand the event to a task, which calls the service."""
from __future__ import annotations


def on_run_finished(sender, run_id: int, **kwargs) -> None:
    """A run that ended with metrics gets its chart samples made now, in the background, so
    the first comparison that includes it does not wait for them."""
    from runs.models import MetricSummary

    from .tasks import series_warm_task

    if MetricSummary.objects.filter(run_id=run_id).exists():
        series_warm_task.delay(run_id)
