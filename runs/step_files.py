"""Opening what a step wrote. A step's work folder is writable by the step's own code, so a
name there may be a symlink it put in place of its log or output, pointing at a file only
the worker may read (its settings, ``/proc/<worker>/environ``), or a FIFO that would block
the worker. The worker opens those names through here: never following a symlink, never
blocking, regular files only."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_step_file(path: Path) -> BinaryIO | None:
    """The file open to read, or None when there is no such regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # missing, a symlink (ELOOP), unreadable
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def append_step_file(path: Path, text: str) -> None:
    """Add ``text`` at the end of the file (created if missing); nothing if the name is
    something else than a regular file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError:
        return
    with os.fdopen(fd, "ab") as fh:
        if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            fh.write(text.encode("utf-8", "backslashreplace"))
