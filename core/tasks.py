"""The house decorator for Celery tasks: explicit names, late acks, bounded retries, no results."""
from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def flowdeck_task(name: str, *, max_retries: int = 5, **options):
    """Queues are chosen by routing (CELERY_TASK_DEFAULT_QUEUE, task_routes), not here."""

    def decorate(fn):
        return shared_task(
            name=name,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            autoretry_for=TRANSIENT,
            retry_backoff=True,
            retry_backoff_max=60,
            max_retries=max_retries,
            **options,
        )(fn)

    return decorate
