"""What both of the SDK's HTTP clients share: a log-batch's JSON, the retry rule and the
error shape. ``flowdeck.client.Client`` (httpx) is the SDK's client; a step process logs
through ``flowdeck.step_client.StepClient`` (the standard library), so that the fork
server that starts steps need not hold httpx. This module imports neither."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import APIError

TRANSIENT_STATUS = {502, 503, 504}
RETRIES = 5
MAX_BACKOFF_S = 5.0

try:  # optional (flowdeck[fast]): several times quicker to encode a batch and decode a long history
    import orjson as _orjson
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - the standard library does the same, slower
    from json import loads as json_loads

    _orjson = None

R = TypeVar("R")


def batch_body(body: dict) -> bytes:
    """A log-batch's JSON. orjson, when installed, encodes a 1,000-point batch in a fifteenth
    of the standard library's time (about 1 ms there, the largest cost on the client's side).
    orjson writes NaN and infinity as null, so a batch holding one, or anything orjson cannot
    encode (a float subclass such as numpy's), goes to the standard library, whose NaN the
    server refuses by name."""
    if _orjson is not None and _all_finite(body):
        try:
            return _orjson.dumps(body, option=_orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    return json.dumps(body).encode()


def _all_finite(body: dict) -> bool:
    """No NaN or infinity among a batch's metric values, params and tags (a finite sum proves
    every summand finite; a sum that overflows, or a value that is not a number, says no)."""
    metrics = body.get("metrics") or ()
    try:
        if isinstance(metrics, dict):
            values = [v for columns in metrics.values() for v in columns.get("value") or ()]
        else:
            values = [m.get("value") for m in metrics]
        others = [v for part in ("params", "tags") for v in (body.get(part) or {}).values() if isinstance(v, float)]
        return math.isfinite(sum(values) + sum(others))
    except (TypeError, AttributeError, OverflowError):
        return False


def log_batch_request(metrics=(), params=None, tags=None, batch_id: str | None = None) -> bytes:
    """The body of ``POST /api/v1/runs/<id>/log-batch``. ``metrics``: points ``[{"key",
    "value", "step", "timestamp"}]`` or the compact form ``{key: {"value": [...], "step":
    [...], "timestamp": [...]}}``."""
    return batch_body({"metrics": metrics if isinstance(metrics, dict) else list(metrics), "params": params or {},
                       "tags": tags or {}, "batch_id": batch_id or ""})


def with_retries(
    send: Callable[[], R], status: Callable[[R], int], *, retry: bool, patience_s: float,
    unreachable: tuple[type[BaseException], ...], url: str,
) -> R:
    """``send()``'s response, retried on a network error (``unreachable``) or a 502/503/504
    with backoff when ``retry``: ``RETRIES`` times, or for ``patience_s`` seconds if that is
    longer (the metrics sender waits out a server restart this way). The last 5xx is
    returned; a network error that is not retried is raised as APIError ``unreachable``."""
    deadline = time.monotonic() + patience_s
    attempt = 0
    while True:
        attempt += 1
        more = retry and (attempt < RETRIES or time.monotonic() < deadline)
        try:
            response = send()
        except unreachable as exc:
            if not more:
                raise APIError(0, "unreachable", f"Cannot reach {url}: {exc}") from None
            time.sleep(min(0.2 * 2 ** (attempt - 1), MAX_BACKOFF_S))
            continue
        if status(response) in TRANSIENT_STATUS and more:
            time.sleep(min(0.2 * 2 ** (attempt - 1), MAX_BACKOFF_S))
            continue
        return response


def decode(status: int, content_type: str, content: bytes, reason: str) -> Any:
    """A response's JSON (bytes for another type, None when empty), or the APIError of the
    API's one error shape ``{"error": {"code", "message", "field"}}``."""
    if status >= 400:
        try:
            err = json.loads(content)["error"]
            raise APIError(status, err.get("code", "error"), err.get("message", ""), err.get("field"))
        except (ValueError, KeyError, TypeError, AttributeError):
            text = content[:300].decode("utf-8", "replace")
            raise APIError(status, "error", text or reason) from None
    if not content:
        return None
    if content_type.startswith("application/json"):
        return json.loads(content)
    return content
