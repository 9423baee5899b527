"""The house decorator for Celery tasks: explicit names, late acks, bounded retries, no results."""
from __future__ import annotations

from celery import shared_task, signals
from django.db import InterfaceError, OperationalError, close_old_connections

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


@signals.task_prerun.connect
def _drop_broken_connections(task=None, **kwargs) -> None:
    """Connections outlive tasks (CELERY_DB_REUSE_MAX): before each task, drop one that saw
    an error and no longer works, or that is older than DB_CONN_MAX_AGE, as Django does
    between web requests. Not for a task run eagerly: its connection is its caller's, maybe
    inside a transaction, which Django would count as unusable and close."""
    if task is not None and task.request.is_eager:
        return
    close_old_connections()
