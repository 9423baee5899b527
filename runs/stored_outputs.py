"""Where a step's output is kept. Each output of ``StepRun.outputs`` is a dict with its
``size`` and ``sha256`` (cache keys use it), its JSON ``value`` when it is a scalar
(quality gates read it), and its pickle either in the row (``inline``: base64, for one of
up to ``FLOWDECK_INLINE_OUTPUT_MAX_BYTES``) or in storage (``key``).

A short output in the row costs no storage PUT when the step ends and no GET when a
downstream step reads it: on S3 those are two network round trips per output, longer
than a short step's own code. Readers go through here, so they need not know which.
"""
from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from typing import BinaryIO

from django.conf import settings

from core import storage

CHUNK = 1024 * 1024


def output_keep(fh: BinaryIO, size: int, key: Callable[[], str]) -> dict:
    """Keep the pickle open in ``fh`` (``size`` bytes): in the row when it is short enough,
    else at storage key ``key()``. Returns the output's record (without its ``value``)."""
    if size <= settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES:
        return output_inline_record(fh.read())
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        digest.update(chunk)
    fh.seek(0)
    name = key()
    return {"key": name, "size": storage.put(name, fh), "sha256": digest.hexdigest()}


def output_inline_record(data: bytes) -> dict:
    """The record of a pickle kept in the row."""
    return {"inline": base64.b64encode(data).decode("ascii"), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def output_inline(meta: dict) -> bytes | None:
    """The pickle kept in the row, or None when it is in storage."""
    text = meta.get("inline") if isinstance(meta, dict) else None
    return None if text is None else base64.b64decode(text)


def output_kept(meta: object) -> bool:
    """Whether the record names a kept pickle (in the row, or a storage key)."""
    return isinstance(meta, dict) and (meta.get("inline") is not None or bool(meta.get("key")))


def output_present(meta: object) -> bool:
    """Whether the pickle can still be read: in the row, or still in storage (a cache hit
    must not point at an object deleted since)."""
    if not output_kept(meta):
        return False
    return meta.get("inline") is not None or storage.exists(meta["key"])


def output_open(meta: dict) -> BinaryIO:
    """The pickle, to read (an inline one from memory)."""
    data = output_inline(meta)
    if data is not None:
        return io.BytesIO(data)
    return storage.open_read(meta["key"])


def output_bytes(meta: dict) -> bytes:
    """The whole pickle (tests, short outputs; a long one is better streamed)."""
    with output_open(meta) as fh:
        return fh.read()
