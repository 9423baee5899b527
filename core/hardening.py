"""Keeping the worker's secrets out of reach of the step code it runs.

Step processes get a clean environment, but on Linux a process can read
``/proc/<pid>/environ`` and memory of any other process of the same user. A process
marked not dumpable (``PR_SET_DUMPABLE`` = 0) has those files owned by root, and
cannot be ptrace-attached, so a step running as the worker's user cannot read the
worker's database URL, storage keys or Django secret from there. A root worker should
also set FLOWDECK_STEP_USER, since root reads everything.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

from celery.signals import worker_init, worker_process_init

log = logging.getLogger(__name__)
PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except OSError:
        log.warning("could not mark the worker not dumpable; steps may read its /proc files")
        return False


@worker_init.connect
def _main_process(**_kwargs) -> None:
    make_undumpable()


@worker_process_init.connect
def _pool_process(**_kwargs) -> None:
    make_undumpable()  # the flag is reset by exec, not by fork, but set it again to be sure
