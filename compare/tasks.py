"""Celery entry points for comparisons. Each calls one service."""
from core.tasks import flowdeck_task

from .series import series_warm
from .services import series_samples_prune


@flowdeck_task("flowdeck.compare_samples_prune")
def series_samples_prune_task(older_than_s: int = 30 * 24 * 3600) -> int:
    return series_samples_prune(older_than_s=older_than_s)


@flowdeck_task("flowdeck.compare_samples_warm")
def series_warm_task(run_id: int) -> int:
    return series_warm(run_id=run_id)
