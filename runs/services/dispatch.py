"""Where a queued step goes: the one place that turns "step N is queued" into a message.

``run_advance`` calls ``step_dispatch`` inside its transaction; the message leaves on commit.
"""
from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from kombu.exceptions import OperationalError

from ..models import StepRun
from ..routing import step_queue

log = logging.getLogger(__name__)


def step_dispatch(step: StepRun, spec: dict) -> None:
    if spec.get("uses"):  # a sub-workflow step: a child run, not a message to a worker
        from .subruns import subrun_start

        subrun_start(step, spec)
        return
    # The queue of the step's resource class: only workers serving that class take it.
    transaction.on_commit(partial(_send, step.pk, step_queue(step)))


def _send(step_id: int, queue: str) -> None:
    """Send the message. The step is queued in the database whatever happens here: if the
    broker stays away past Celery's own publish retries, the reaper sends it again later
    (FLOWDECK_REDISPATCH_S), so the caller (a step that just ended) is not failed for it."""
    from ..tasks import step_execute_task

    try:
        step_execute_task.apply_async((step_id,), queue=queue)
    except (OperationalError, ConnectionError, TimeoutError) as exc:
        log.warning("step %s: could not send it to queue %s (%s); the reaper will send it again", step_id, queue, exc)
