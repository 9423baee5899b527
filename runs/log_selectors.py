"""Reading a step's log piece by piece, while it runs and after it ended.

A reader keeps a byte offset and asks for what follows it. While the step is queued or
running the text comes from the live chunks the worker ships (``runs/services/logs.py``);
once it has ended, from the stored log, the same bytes, so a reader goes on from where the
live view left it. A stored log can be tens of megabytes: it is read in ranges, never whole.
"""
from __future__ import annotations

from . import stored_logs
from .models import StepLogChunk, StepRun, StepStatus
from .services.logs import complete_prefix_len, log_text

LOG_READ_BYTES = 256 * 1024
# A tail that starts mid-line starts at the next line instead, if one begins this close.
LINE_ALIGN_BYTES = 4096
LIVE_STATUSES = {StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RUNNING}


def step_log_read(*, step: StepRun, offset: int, attempt: int | None = None, max_bytes: int = LOG_READ_BYTES) -> dict:
    """The log text after byte ``offset``, at most about ``max_bytes`` of it.

    Returns ``{"text", "next_offset", "complete", "start", "truncated", "attempt", "status"}``:
    ask again with ``next_offset`` until ``complete`` (the step has ended and everything was
    read). ``start`` is the byte the text begins at; it is past ``offset`` when bytes were
    skipped, and ``truncated`` says so: a first read (offset 0) of a finished log longer than
    ``max_bytes`` starts near its tail. A reader that passes the ``attempt`` it was reading
    starts again at 0 when the step has moved on to another attempt.
    """
    if attempt is not None and attempt != step.attempt:
        offset = 0
    offset = max(0, offset)
    stored = stored_logs.log_stored(step)
    if step.status == StepStatus.RUNNING or (step.status in LIVE_STATUSES and not stored):
        result = _read_live(step, offset, max_bytes)
    elif not stored:
        # Ended without a stored log (skipped, or its worker died): what was shipped live, if
        # anything, is all there is; it is complete once a read finds nothing more.
        result = _read_live(step, offset, max_bytes)
        result["complete"] = not result["text"]
    else:  # ended, or queued again for a retry while the last attempt's log is stored
        result = _read_stored(step, offset, max_bytes)
        if step.status in LIVE_STATUSES:
            result["complete"] = False
    return {**result, "attempt": step.attempt, "status": step.status}


def _read_live(step: StepRun, offset: int, max_bytes: int) -> dict:
    rows = (
        StepLogChunk.objects.filter(step=step, attempt=step.attempt, offset__gt=offset)
        .order_by("offset", "pk")
        .values_list("offset", "data")
    )
    texts: list[str] = []
    total, next_offset = 0, offset
    for end, data in rows.iterator(chunk_size=8):
        # Never stop between chunks that end at the same byte (the last data and the marker
        # after it): the next read asks for what ends past it and would miss the second.
        if total >= max_bytes and end != next_offset:
            break
        texts.append(data)
        total += len(data)
        next_offset = end
    return {"text": "".join(texts), "next_offset": next_offset, "complete": False, "start": offset, "truncated": False}


def _read_stored(step: StepRun, offset: int, max_bytes: int) -> dict:
    size = stored_logs.log_size(step)
    start, truncated = min(offset, size), False
    if offset == 0 and size > max_bytes:
        start, truncated = size - max_bytes, True
    raw = stored_logs.log_range(step, start, min(max_bytes, size - start))
    if truncated:
        skip = _line_start(raw)
        raw, start = raw[skip:], start + skip
    keep = len(raw)
    if start + keep < size:  # more follows: leave a character cut at the end for next time
        keep = complete_prefix_len(raw) or keep
    next_offset = start + keep
    return {
        "text": log_text(raw[:keep]),
        "next_offset": next_offset,
        "complete": next_offset >= size,
        "start": start,
        "truncated": truncated,
    }


def _line_start(raw: bytes) -> int:
    """Where to begin a tail cut at an arbitrary byte: after the first newline when it is
    near, else at the first whole character."""
    newline = raw.find(b"\n", 0, LINE_ALIGN_BYTES)
    if newline >= 0:
        return newline + 1
    skip = 0
    while skip < min(3, len(raw)) and 0x80 <= raw[skip] < 0xC0:  # continuation bytes
        skip += 1
    return skip
