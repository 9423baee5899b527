"""Celery entry points for accounts: the periodic quota pass."""
from core.tasks import flowdeck_task

from .services.quotas import quota_enforce


@flowdeck_task("flowdeck.quotas_enforce", max_retries=0)
def quotas_enforce_task() -> None:
    quota_enforce()
