"""Celery hooks that keep this worker's row in the worker registry (``runs/services/workers.py``).

- ``celeryd_after_setup`` (main process, before the pool forks): remember the node name
  (``-n``, e.g. ``gpu-1@host``), so code in the pool processes can say which worker ran a step;
- ``worker_ready``: register with the queues the worker consumes (``-Q``), then refresh
  ``last_seen`` from a daemon thread every FLOWDECK_WORKER_HEARTBEAT_S (queues added later with
  ``celery control add_consumer`` are picked up there too), and now and then delete the rows
  of workers that died long ago;
- ``worker_shutdown`` (a warm or cold shutdown that gets that far): stop the thread and
  delete the row. A SIGKILLed worker leaves its row, which stops counting as live after
  FLOWDECK_WORKER_STALE_S.

A thread rather than the consumer's timer: with an asynchronous broker (Redis, RabbitMQ)
that timer runs in the event loop that receives messages, and a slow database must never
hold up message delivery. ``config/celery.py`` imports this module; nothing here touches
Django before a signal fires, so the web process, which imports it too, is unaffected.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from celery import signals

log = logging.getLogger(__name__)
FORGET_EVERY_S = 600.0

_node_name: str | None = None
_heartbeat: _Heartbeat | None = None


def node_name() -> str | None:
    """This worker's Celery node name, in its main and pool processes; None outside a worker."""
    return _node_name


class _Heartbeat(threading.Thread):
    def __init__(self, name: str, queues: Callable[[], list[str]], interval: float, concurrency: int) -> None:
        super().__init__(name="flowdeck-worker-registry", daemon=True)
        self.node, self.queues, self.interval, self.concurrency = name, queues, interval, concurrency
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections, connection

        from .services.workers import worker_seen, workers_forget

        last_forget = time.monotonic()
        while not self.stopping.wait(self.interval):
            try:
                close_old_connections()
                worker_seen(name=self.node, hostname=socket.gethostname(), queues=self.queues(),
                            concurrency=self.concurrency)
                if time.monotonic() - last_forget >= FORGET_EVERY_S:
                    last_forget = time.monotonic()
                    workers_forget()
            except Exception:  # the database is away: say so, keep beating, reconnect next time
                log.warning("worker registry: could not refresh %s", self.node, exc_info=True)
                connection.close()
        connection.close()


def _consumed_queues(app) -> Callable[[], list[str]]:
    return lambda: sorted(app.amqp.queues.consume_from or {})


def _concurrency(consumer) -> int:
    """How many tasks the worker runs at once: its pool's processes (the most, autoscaled)."""
    controller = getattr(consumer, "controller", None)
    autoscaler = getattr(controller, "autoscaler", None)
    value = getattr(autoscaler, "max_concurrency", None) or getattr(controller, "concurrency", None)
    return value if isinstance(value, int) and value > 0 else 0


@signals.celeryd_after_setup.connect
def _remember_node_name(sender: str, **kwargs) -> None:
    global _node_name
    _node_name = sender


@signals.worker_ready.connect
def _register(sender, **kwargs) -> None:
    """``sender`` is the worker's consumer."""
    global _heartbeat, _node_name
    from django.conf import settings
    from django.db import connection

    from .services.workers import worker_seen, workers_forget

    _node_name = sender.hostname
    queues = _consumed_queues(sender.app)
    concurrency = _concurrency(sender)
    try:
        worker_seen(name=sender.hostname, hostname=socket.gethostname(), queues=queues(), started=True,
                    concurrency=concurrency)
        workers_forget()
    except Exception:  # a worker without its row still works; the heartbeat retries
        log.warning("worker registry: could not register %s", sender.hostname, exc_info=True)
    finally:
        # The pool forks from this process; keep no database socket here for children to inherit.
        connection.close()
    _heartbeat = _Heartbeat(sender.hostname, queues, float(settings.FLOWDECK_WORKER_HEARTBEAT_S), concurrency)
    _heartbeat.start()
    log.info("worker registry: %s serves %s", sender.hostname, ", ".join(queues()))


@signals.worker_shutdown.connect
def _unregister(sender, **kwargs) -> None:
    global _heartbeat
    from django.db import connection

    from .services.workers import worker_unregister

    name = _node_name or getattr(sender, "hostname", None)
    if _heartbeat is not None:
        _heartbeat.stopping.set()
        _heartbeat.join(timeout=5)
        _heartbeat = None
    if not name:
        return
    try:
        worker_unregister(name=name)
    except Exception:
        log.warning("worker registry: could not unregister %s", name, exc_info=True)
    finally:
        connection.close()
