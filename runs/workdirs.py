"""Steps' work folders on a worker: one per attempt, removed in the background.

Removing a folder is slow on some disks (ext4 mounted with ``discard`` trims every freed
block as it goes: about 5 ms for a no-op step's few files, longer than the step), and a
worker process that removed it in line could not start its next step meanwhile. A thread
of the worker process removes them instead, in the order they were handed over.

Making files costs too, on some disks more than a no-op step's own code: ext4 without a
journal passes over every recently freed inode (a minute or more) when it looks for a free
one, so where thousands of work folders are removed a minute, each new file or folder
costs 0.2-1 ms of system time (measured on the 2-core bench machine). Steps make as few as they can (see
``_prepare``), and ``FLOWDECK_WORKDIR_ROOT`` can put the folders on a tmpfs.
"""
from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from pathlib import Path

from django.conf import settings

_pending: queue.SimpleQueue | None = None
_owner = 0  # the pid that started the thread: a forked child starts its own


_root_made = ""  # the FLOWDECK_WORKDIR_ROOT this process made sure exists


def workdir_create(run_id: int, step_name: str) -> Path:
    """A new, private work folder for one attempt of a step, under ``FLOWDECK_WORKDIR_ROOT``
    (the system's temporary folder when unset)."""
    global _root_made
    root = settings.FLOWDECK_WORKDIR_ROOT or None
    if root and root != _root_made:
        os.makedirs(root, exist_ok=True)
        _root_made = root
    return Path(tempfile.mkdtemp(prefix=f"flowdeck-{run_id}-{step_name}-", dir=root))


def workdir_discard(path: Path) -> None:
    """Remove the folder soon, off the caller's path."""
    global _pending, _owner
    if _pending is None or _owner != os.getpid():
        _pending, _owner = queue.SimpleQueue(), os.getpid()
        threading.Thread(target=_sweep, args=(_pending,), name="flowdeck-workdirs", daemon=True).start()
    _pending.put(path)


def workdirs_drain(timeout: float = 10.0) -> None:
    """Wait until every folder handed over so far is gone (tests; a clean shutdown)."""
    if _pending is None or _owner != os.getpid():
        return
    done = threading.Event()
    _pending.put(done)
    done.wait(timeout)


def _sweep(pending: queue.SimpleQueue) -> None:
    while True:
        item = pending.get()
        if isinstance(item, threading.Event):
            item.set()
        else:
            shutil.rmtree(item, ignore_errors=True)
