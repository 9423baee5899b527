"""Workers that outlive a Redis restart.

Tasks use ``acks_late``, so a worker holds the messages of the tasks it is running. When
its Redis connection drops, kombu (5.7, Redis transport) trips twice over the channel of
that dead connection, and each time Celery calls the error unrecoverable and the worker
exits:

- closing the channel tries to put those messages back into Redis, through a connection
  that is already gone (``AttributeError: 'NoneType' object has no attribute 'hostname'``);
- a task that was running across the outage acknowledges its message, once it ends, on that
  closed channel (``... has no attribute 'client'``).

Neither can do anything useful any more: a restarted Redis has lost those messages, and a
Redis that stayed up hands unacknowledged ones out again after the visibility timeout. The
database is the source of truth (claims are conditional) and the reaper re-sends lost
work, so both become a logged no-op and the worker reconnects and goes on.
``tests/runs/test_faults.py`` restarts a Redis server under a running step to prove it.
"""
from __future__ import annotations

import functools
import logging

log = logging.getLogger(__name__)


def _on_live_channel(method):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self.connection is None or getattr(self, "closed", False):
            log.warning("broker connection lost: %s of message %s skipped", method.__name__, args[0] if args else "?")
            return None
        return method(self, *args, **kwargs)

    guarded._flowdeck_guarded = True
    return guarded


def _restore_or_log(method):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # the connection is gone: nothing can be restored through it
            log.warning("broker connection lost: unacknowledged messages not restored (%s: %s)", type(exc).__name__, exc)
            return None

    guarded._flowdeck_guarded = True
    return guarded


def install() -> None:
    """Patch kombu's Redis transport once; a no-op without it."""
    try:
        from kombu.transport import redis as transport
    except ImportError:  # the redis client is not installed: no Redis broker here
        return
    for name in ("basic_ack", "basic_reject"):
        method = getattr(transport.Channel, name)
        if not getattr(method, "_flowdeck_guarded", False):
            setattr(transport.Channel, name, _on_live_channel(method))
    restore = transport.QoS.restore_unacked_once
    if not getattr(restore, "_flowdeck_guarded", False):
        transport.QoS.restore_unacked_once = _restore_or_log(restore)


install()
