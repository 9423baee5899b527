"""Where queued steps go: the one place that turns "these steps are queued" into messages.

``run_advance`` calls ``steps_dispatch`` inside its transaction; the messages leave on commit.

A few ready steps get one ``step_execute`` message each. Many at once (a fan-out) are cut
into batches: one ``steps_execute`` message names up to ``BATCH_STEPS`` steps, and the
worker process that takes it claims and runs them one after another, each in its own
process as usual. A thousand messages, each with its own claim, record and advance, cost
more than the thousand no-op steps they carried; batches keep the bookkeeping per message
and leave the per-step work. There are never fewer batches than live worker processes
serving the queue, so no worker that could run a step sits idle while a batch waits.
"""
from __future__ import annotations

import logging
import math
import time
from functools import partial

from django.db import transaction
from kombu.exceptions import OperationalError

from ..models import StepRun
from ..routing import step_queue

log = logging.getLogger(__name__)

BATCH_STEPS = 25  # at most this many steps per batch message
SLOTS_UNKNOWN = 8  # worker processes assumed when no live worker has said how many it runs
_SLOTS_TTL_S = 10.0
_slots_cache: dict[str, tuple[float, int]] = {}


def step_dispatch(step: StepRun, spec: dict) -> None:
    """Dispatch one queued step (the reaper's re-sends, a sub-workflow step)."""
    steps_dispatch([step], {step.name: spec})


def steps_dispatch(steps: list[StepRun], specs: dict[str, dict]) -> None:
    """Dispatch queued steps, on commit: sub-workflow steps start their child run now; the
    others go to the queue of their resource class, one message each or in batches."""
    by_queue: dict[str, list[int]] = {}
    for step in steps:
        spec = specs[step.name]
        if spec.get("uses"):  # a sub-workflow step: a child run, not a message to a worker
            from .subruns import subrun_start

            subrun_start(step, spec)
            continue
        # The queue of the step's resource class: only workers serving that class take it.
        by_queue.setdefault(step_queue(step), []).append(step.pk)
    for queue, ids in by_queue.items():
        for batch in batches(ids, slots=queue_slots(queue) if len(ids) > 1 else 1):
            transaction.on_commit(partial(_send, batch, queue))


def batches(ids: list[int], *, slots: int) -> list[list[int]]:
    """Cut ``ids`` into at least ``slots`` batches (when there are that many) of at most
    ``BATCH_STEPS``, as even as can be, in order."""
    count = min(len(ids), max(slots, math.ceil(len(ids) / BATCH_STEPS)))
    size, extra = divmod(len(ids), count) if count else (0, 0)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(ids[start:end])
        start = end
    return out


def queue_slots(queue: str) -> int:
    """How many worker processes the live workers serving ``queue`` run (read at most every
    few seconds per process: it only shapes batches)."""
    now = time.monotonic()
    cached = _slots_cache.get(queue)
    if cached and now - cached[0] < _SLOTS_TTL_S:
        return cached[1]
    from ..selectors import workers_live

    slots = sum(node.concurrency for node in workers_live() if queue in node.queues)
    slots = slots or SLOTS_UNKNOWN
    _slots_cache[queue] = (now, slots)
    return slots


def batch_resend(step_ids: list[int], queue: str) -> bool:
    """Send a batch now (not on commit): what a batch whose steps turned out slow hands
    back. False if the broker could not take it."""
    return _send(step_ids, queue)


def _send(step_ids: list[int], queue: str) -> bool:
    """Send the message. The steps are queued in the database whatever happens here: if the
    broker stays away past Celery's own publish retries, the reaper sends them again later
    (FLOWDECK_REDISPATCH_S), so the caller (a step that just ended) is not failed for it."""
    from ..tasks import step_execute_task, steps_execute_task

    try:
        if len(step_ids) == 1:
            step_execute_task.apply_async((step_ids[0],), queue=queue)
        else:
            steps_execute_task.apply_async((step_ids,), queue=queue)
        return True
    except (OperationalError, ConnectionError, TimeoutError) as exc:
        log.warning("steps %s: could not send them to queue %s (%s); the reaper will send them again",
                    step_ids[:5], queue, exc)
        return False
