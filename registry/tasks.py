"""Celery entry points for the registry. Each calls one service."""
from core.tasks import flowdeck_task

from .services import bundles_cleanup


@flowdeck_task("flowdeck.bundles_cleanup")
def bundles_cleanup_task(older_than_s: int = 3600) -> int:
    return bundles_cleanup(older_than_s=older_than_s)
