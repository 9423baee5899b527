"""Where an ended step's log is kept: a short one in its row (``StepRun.log_inline``), a
longer one as a storage object (``StepRun.log_key``). Readers go through here, so they
need not know which; both hold the log's exact bytes."""
from __future__ import annotations

from core import storage

from .models import StepRun


def log_stored(step: StepRun) -> bool:
    """Whether the step's (last ended attempt's) log was kept, in the row or in storage."""
    return step.log_inline is not None or bool(step.log_key)


def log_size(step: StepRun) -> int:
    if step.log_inline is not None:
        return len(step.log_inline)
    # log_size is recorded with the key; rows written before it was are asked of the store.
    return step.log_size or storage.size(step.log_key)


def log_range(step: StepRun, start: int, length: int) -> bytes:
    if step.log_inline is not None:
        return bytes(step.log_inline[start:start + max(0, length)])
    return storage.read_range(step.log_key, start, length)


def log_tail(step: StepRun, max_bytes: int) -> tuple[bytes, bool]:
    """The last ``max_bytes`` of the log, and whether it was cut."""
    if step.log_inline is not None:
        data = bytes(step.log_inline)
        return (data[-max_bytes:], True) if len(data) > max_bytes else (data, False)
    return storage.read_tail(step.log_key, max_bytes)


def log_bytes(step: StepRun) -> bytes:
    """The whole stored log (tests, small logs; a long one is better read in ranges)."""
    if step.log_inline is not None:
        return bytes(step.log_inline)
    return storage.read(step.log_key) if step.log_key else b""
