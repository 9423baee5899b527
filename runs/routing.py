"""Resource classes and Celery queues: which queue a step's message goes to.

A step names a resource class (``@wf.step(resources="gpu")``; ``cpu`` when it names none).
Each class is one Celery queue:

- the default class, ``cpu``, is ``CELERY_TASK_DEFAULT_QUEUE`` (``flowdeck``), the queue every
  worker serves when started without ``-Q``, and the one the orchestration tasks use;
- any other class ``X`` is ``<default queue>.X``, e.g. ``flowdeck.gpu``.

A worker serves the classes of the queues it consumes:
``celery -A config worker -Q flowdeck,flowdeck.gpu`` runs cpu and gpu steps.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from flowdeck.spec import DEFAULT_RESOURCE_CLASS, RESOURCE_CLASS

from .models import StepRun


def default_queue() -> str:
    return settings.CELERY_TASK_DEFAULT_QUEUE


def queue_for_class(resource_class: str) -> str:
    """The Celery queue of a resource class ("" is the default class)."""
    if not resource_class or resource_class == DEFAULT_RESOURCE_CLASS:
        return default_queue()
    return f"{default_queue()}.{resource_class}"


def class_for_queue(queue: str) -> str | None:
    """The resource class a queue serves, or None for a queue that is not a Flowdeck class."""
    if queue == default_queue():
        return DEFAULT_RESOURCE_CLASS
    prefix = f"{default_queue()}."
    if queue.startswith(prefix) and RESOURCE_CLASS.match(queue[len(prefix):]):
        return queue[len(prefix):]
    return None


def step_resource_class(spec_step: dict) -> str:
    """The resource class of a step of a stored spec (specs published before resource
    classes existed have none: the default)."""
    return spec_step.get("resources") or DEFAULT_RESOURCE_CLASS


def spec_resource_classes(spec: dict) -> dict[str, str]:
    """Step name -> resource class, for every step of a stored spec."""
    return {s["name"]: step_resource_class(s) for s in spec.get("steps") or []}


def step_queue(step: StepRun) -> str:
    """The queue a step's execute message goes to: on dispatch and on every retry, so a gpu
    step is always run by a gpu worker."""
    return queue_for_class(step.resource_class)


def queues_for(names: Iterable[str]) -> list[str]:
    """Queue names for a list of resource classes or queue names (``cpu,gpu`` or
    ``flowdeck,flowdeck.gpu``), in order, without repeats; for starting a worker with ``-Q``."""
    queues: list[str] = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if class_for_queue(name) is not None:
            queue = name
        elif RESOURCE_CLASS.match(name):
            queue = queue_for_class(name)
        else:
            raise ValueError(f"{name!r} is neither a resource class (such as gpu) nor a queue ({default_queue()}.gpu).")
        if queue not in queues:
            queues.append(queue)
    return queues
