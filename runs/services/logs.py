"""Live step logs: the worker ships a running step's log into ``StepLogChunk`` rows.

While a step runs, its log file grows on the worker. About once a second the executor calls
``log_ship``, which stores the bytes added since the last call as one row, so the run page,
the API and ``flowdeck logs --follow`` can show the log as it grows. When the step ends the
whole log goes to storage (``StepRun.log_key``) and ``log_chunks_clear`` drops the rows.

A chunk's ``offset`` is the byte offset in the log file *just past* its bytes, so a reader
that has seen everything up to byte N asks for the chunks with ``offset > N``, and the last
one it gets is where it continues, in the live rows or, once the step ended, in the stored
log (the same bytes). Offsets are bytes of the file, not characters of the text: the text
is decoded with replacement characters and can differ in length.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from ..models import StepLogChunk
from ..step_files import open_step_file

# One row holds at most this much, so a reader never has to load a huge row.
CHUNK_MAX_BYTES = 256 * 1024
TRUNCATED_MARKER = (
    "\n[flowdeck] The live log stops here: it passed {limit} bytes. "
    "The whole log is available when the step ends.\n"
)


def log_ship(*, step_id: int, attempt: int, path: Path, offset: int) -> int:
    """Store the log bytes written to ``path`` since ``offset`` as live chunks of the step
    attempt; returns the offset to pass next time.

    Only whole UTF-8 characters are shipped: a character cut by the writer stays for the next
    call. At most ``FLOWDECK_LIVE_LOG_MAX_BYTES`` are shipped per attempt; the call that
    reaches the limit adds a marker chunk saying the live view is truncated, and returns an
    offset past the limit, after which nothing more is shipped (nor is the file looked at).
    Nothing new costs one ``stat`` and no query.
    """
    limit = settings.FLOWDECK_LIVE_LOG_MAX_BYTES
    if offset > limit or limit <= 0:
        return offset  # capped earlier, or live logs are off
    try:
        size = path.stat().st_size
    except OSError:
        return offset  # the subprocess has not opened its log yet
    if size <= offset:
        return offset
    # Below the limit every call ships and ends before it (offset <= limit - 1), so the
    # capping call always has at least one byte to put before its marker: a reader that is
    # at the previous end then sees both.
    capped = size >= limit
    fh = open_step_file(path)  # not a symlink the step put in place of its log
    if fh is None:
        return offset
    with fh:
        fh.seek(offset)
        raw = fh.read((limit if capped else size) - offset)
    keep = complete_prefix_len(raw)
    if capped:
        # End the live view at a line when there is one, so the marker stands on its own line
        # and the stored log goes on from a line's start; else at a character, else anywhere
        # (a cut character shows as U+FFFD rather than shipping nothing).
        keep = raw.rfind(b"\n", 0, keep) + 1 or keep or len(raw)
    rows = _chunk_rows(step_id, attempt, offset, raw[:keep])
    end = offset + keep
    if capped:
        marker = TRUNCATED_MARKER.format(limit=limit)
        rows.append(StepLogChunk(step_id=step_id, attempt=attempt, offset=end, data=marker))
    if rows:
        StepLogChunk.objects.bulk_create(rows)
    return limit + 1 if capped else end


def log_chunks_clear(*, step_id: int) -> None:
    """Drop every live chunk of the step (all attempts): its log is in storage now."""
    StepLogChunk.objects.filter(step_id=step_id).delete()


def _chunk_rows(step_id: int, attempt: int, offset: int, raw: bytes) -> list[StepLogChunk]:
    rows = []
    start = 0
    while start < len(raw):
        stop = start + CHUNK_MAX_BYTES
        if stop < len(raw):
            stop = start + complete_prefix_len(raw[start:stop]) or stop
        else:
            stop = len(raw)
        rows.append(StepLogChunk(step_id=step_id, attempt=attempt, offset=offset + stop, data=log_text(raw[start:stop])))
        start = stop
    return rows


def log_text(raw: bytes) -> str:
    """Log bytes as text a database column holds: bad UTF-8 and NUL become U+FFFD."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def complete_prefix_len(raw: bytes) -> int:
    """How many leading bytes of ``raw`` end on a UTF-8 character boundary: a multi-byte
    character cut at the end is left out. Invalid bytes count as complete (they decode as
    U+FFFD); only a valid but unfinished sequence is held back."""
    n = len(raw)
    # A character is at most 4 bytes: look back at most 3 for the lead byte of the last one.
    for back in range(1, min(4, n) + 1):
        byte = raw[n - back]
        if byte < 0x80:
            return n  # ASCII: the last character is whole
        if byte >= 0xC0:  # a lead byte
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4 if byte < 0xF8 else 1
            return n - back if back < need else n
        # a continuation byte: keep looking back
    return n
