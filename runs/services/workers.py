"""The worker registry: each Celery worker keeps one WorkerNode row up to date, so the
server knows which resource classes (queues) some live worker serves.

Written by the workers themselves (``runs/worker_registry.py`` hooks these into Celery):
a row on start, ``last_seen`` refreshed every ``FLOWDECK_WORKER_HEARTBEAT_S``, the row
deleted on a clean shutdown. A worker that dies without one leaves its row behind; it stops
counting as live after ``FLOWDECK_WORKER_STALE_S`` and is deleted after
``FLOWDECK_WORKER_FORGET_S``.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import WorkerNode


def worker_seen(
    *, name: str, hostname: str, queues: list[str], started: bool = False, concurrency: int | None = None
) -> WorkerNode:
    """Record that worker ``name`` is alive, consumes ``queues`` and runs ``concurrency``
    steps at once (None: unchanged). ``started`` marks a (re)start: ``started_at`` is reset.
    A row deleted meanwhile (a long pause, then the cleanup) is created again."""
    now = timezone.now()
    fields = {"hostname": hostname[:200], "queues": sorted(set(queues)), "last_seen": now}
    if concurrency is not None:
        fields["concurrency"] = max(0, int(concurrency))
    if started:
        fields["started_at"] = now
    node, _ = WorkerNode.objects.update_or_create(name=name[:200], defaults=fields)
    return node


def worker_unregister(*, name: str) -> None:
    """A clean shutdown: the worker no longer serves anything."""
    WorkerNode.objects.filter(name=name[:200]).delete()


def workers_forget(*, older_than_s: int | None = None) -> int:
    """Delete the rows of workers not seen for ``older_than_s`` (FLOWDECK_WORKER_FORGET_S):
    workers that died without a clean shutdown. Returns how many were deleted."""
    age = settings.FLOWDECK_WORKER_FORGET_S if older_than_s is None else older_than_s
    deleted, _ = WorkerNode.objects.filter(last_seen__lt=timezone.now() - timedelta(seconds=age)).delete()
    return deleted
