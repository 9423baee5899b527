"""Logging params, metrics, tags and artifacts from inside a step (or any tracked code).

Values are checked when they are logged, so a NaN or a bad key fails at the line that
logged it. On a server, metrics are buffered and sent in batches from a background
thread; each batch carries an id the server stores once, so a retried batch is never
stored twice. Buffers are flushed when the run ends, including when it fails.
"""
from __future__ import annotations

import atexit
import json
import math
import numbers
import shutil
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .errors import APIError

MAX_KEY = 250
MAX_VALUE = 6000
BATCH_POINTS = 5000  # the sender wakes up when this many points wait (or every FLUSH_INTERVAL_S)
MAX_BATCH_POINTS = 20_000  # at most this many per request: a backlog goes in big batches...
MAX_BATCH_BYTES = 2_000_000  # ...of at most about this much JSON (Django refuses bodies over 2.5 MB)
FLUSH_INTERVAL_S = 0.5
MAX_BUFFER_POINTS = 1_000_000  # a few hundred MB of buffered points before logging waits
RETRY_PATIENCE_S = 300.0  # how long a batch is retried while the server is unreachable


class TrackingError(ValueError):
    """A value that cannot be logged, with the reason."""


def check_key(key: Any, kind: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise TrackingError(f"A {kind} key must be a non-empty string, got {key!r}.")
    if len(key) > MAX_KEY:
        raise TrackingError(f"{kind.capitalize()} key '{key[:40]}…' is longer than {MAX_KEY} characters.")
    return key


def check_metric(key: Any, value: Any) -> float:
    check_key(key, "metric")
    # numbers.Real admits numpy scalars; bool is refused because True is almost always a bug.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TrackingError(f"Metric '{key}' must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise TrackingError(f"Metric '{key}' is {value}; NaN and infinity cannot be logged.")
    return value


def check_text(key: str, value: Any, kind: str) -> str:
    check_key(key, kind)
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
    if len(text) > MAX_VALUE:
        raise TrackingError(f"{kind.capitalize()} '{key}' is longer than {MAX_VALUE} characters.")
    return text


def batch_point_bytes(point: dict) -> int:
    """An upper bound on a point's size in a JSON batch: the fixed part is at most ~110
    bytes (field names, a float, a 64-bit step and timestamp); non-ASCII key characters
    may be escaped as \\uXXXX pairs."""
    key = point["key"]
    return 110 + (len(key) if key.isascii() else 12 * len(key))


def compact(points: list[dict]) -> dict[str, dict[str, list]]:
    """Points as the compact batch form the server takes: ``{key: {"step": [...], "value":
    [...], "timestamp": [...]}}``, each key's points in the order they were logged. No
    object per point on the wire, and about a third of the bytes."""
    out: dict[str, dict[str, list]] = {}
    for p in points:
        columns = out.get(p["key"])
        if columns is None:
            columns = out[p["key"]] = {"step": [], "value": [], "timestamp": []}
        columns["step"].append(p["step"])
        columns["value"].append(p["value"])
        columns["timestamp"].append(p["timestamp"])
    return out


class Sink(Protocol):
    def metrics(self, points: list[dict]) -> None: ...
    def params(self, values: dict[str, str]) -> None: ...
    def tags(self, values: dict[str, str]) -> None: ...
    def artifact(self, local: Path, name: str) -> None: ...
    def close(self) -> None: ...


class LocalSink:
    """Tracks to a folder: metrics.jsonl, params.json, tags.json and artifacts/."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        (self.folder / "artifacts").mkdir(parents=True, exist_ok=True)
        self.logged_params: dict[str, str] = {}
        self.logged_tags: dict[str, str] = {}
        self.points: list[dict] = []
        self._metrics = open(self.folder / "metrics.jsonl", "a", encoding="utf-8")

    def metrics(self, points: list[dict]) -> None:
        self.points.extend(points)
        for p in points:
            self._metrics.write(json.dumps(p) + "\n")

    def params(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            if key in self.logged_params and self.logged_params[key] != value:
                raise TrackingError(f"Param '{key}' was already logged as {self.logged_params[key]!r}.")
        self.logged_params.update(values)
        (self.folder / "params.json").write_text(json.dumps(self.logged_params, indent=1))

    def tags(self, values: dict[str, str]) -> None:
        self.logged_tags.update(values)
        (self.folder / "tags.json").write_text(json.dumps(self.logged_tags, indent=1))

    def artifact(self, local: Path, name: str) -> None:
        target = self.folder / "artifacts" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)

    def close(self) -> None:
        self._metrics.close()


class TeeSink:
    """Writes to a primary sink and mirrors to others. A local workflow run keeps its folder
    (the primary) and mirrors to a server run; a mirror's failure is a warning on stderr,
    never a failed step, because the local run is what the author is debugging."""

    def __init__(self, primary: Sink, *mirrors: Sink) -> None:
        self.primary = primary
        self.mirrors = mirrors
        self._warned: set[int] = set()

    @property
    def points(self) -> list[dict]:
        return getattr(self.primary, "points", [])

    def _mirror(self, call: str, *args: Any) -> None:
        for i, mirror in enumerate(self.mirrors):
            try:
                getattr(mirror, call)(*args)
            except Exception as exc:
                if i not in self._warned:
                    self._warned.add(i)
                    print(f"flowdeck: could not mirror to the server, the local run goes on: {exc}", file=sys.stderr)

    def metrics(self, points: list[dict]) -> None:
        self.primary.metrics(points)
        self._mirror("metrics", points)

    def params(self, values: dict[str, str]) -> None:
        self.primary.params(values)
        self._mirror("params", values)

    def tags(self, values: dict[str, str]) -> None:
        self.primary.tags(values)
        self._mirror("tags", values)

    def artifact(self, local: Path, name: str) -> None:
        self.primary.artifact(local, name)
        self._mirror("artifact", local, name)

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self._mirror("close")


class HttpSink:
    """Tracks to a server run. Metrics are buffered and sent in batches from a background
    thread, so ``log_metric`` in a tight loop costs microseconds, not a round trip.

    - Each batch gets one id, reused on every retry: a batch whose answer was lost is sent
      again and the server, which stores an id once, ignores the replay.
    - Network errors and 502/503/504 are retried with backoff for up to ``RETRY_PATIENCE_S``,
      so a server restart loses nothing; an error that persists is raised by the next
      logging call, or by ``close()``.
    - The buffer is bounded: past ``max_buffer`` points the logging thread waits for the
      sender, rather than the process growing without bound while the server is away.
    - ``close()`` sends everything that is left; an ``atexit`` hook closes sinks still open
      when the interpreter exits.
    """

    def __init__(self, client, run_id: int, *, max_buffer: int = MAX_BUFFER_POINTS) -> None:
        self.client = client
        self.run_id = run_id
        self.max_buffer = max(max_buffer, BATCH_POINTS)
        self.sent_points = 0
        self._buffer: list[dict] = []
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        self._reported = False  # a sink reports one failure: later ones are its echoes
        # Started with the first metric: a step that logs none (most steps of a pipeline)
        # pays for no thread.
        self._thread: threading.Thread | None = None
        _open_sinks.add(self)

    def _sender(self) -> threading.Thread:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="flowdeck-metrics", daemon=True)
            self._thread.start()
        return self._thread

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._reported = True
            raise error

    def metrics(self, points: list[dict]) -> None:
        self._raise_pending()
        sender = self._sender()
        with self._cond:
            # Back-pressure: wait for the sender rather than buffer without bound.
            while len(self._buffer) >= self.max_buffer and self._error is None and sender.is_alive():
                self._wake.set()
                self._cond.wait(0.5)
            self._buffer.extend(points)
            full = len(self._buffer) >= BATCH_POINTS
        if full:
            self._wake.set()

    def params(self, values: dict[str, str]) -> None:
        self._raise_pending()
        self.client.log_batch(self.run_id, params=values, batch_id=uuid.uuid4().hex, patience_s=RETRY_PATIENCE_S)

    def tags(self, values: dict[str, str]) -> None:
        self._raise_pending()
        self.client.log_batch(self.run_id, tags=values, batch_id=uuid.uuid4().hex, patience_s=RETRY_PATIENCE_S)

    def artifact(self, local: Path, name: str) -> None:
        self._raise_pending()
        self.client.artifact_upload(self.run_id, local, name)

    def _take_batch(self) -> list[dict]:
        """The oldest points, up to MAX_BATCH_POINTS and about MAX_BATCH_BYTES of JSON."""
        with self._cond:
            n, size = 0, 0
            for point in self._buffer[:MAX_BATCH_POINTS]:
                size += batch_point_bytes(point)
                if size > MAX_BATCH_BYTES and n:
                    break
                n += 1
            batch = self._buffer[:n]
            del self._buffer[:n]
        return batch

    def _send_some(self) -> bool:
        batch = self._take_batch()
        if not batch:
            return False
        try:
            self._send(batch)
        finally:
            with self._cond:
                self._cond.notify_all()
        return True

    def _send(self, batch: list[dict]) -> None:
        try:
            # One id per batch, reused on every retry inside log_batch.
            self.client.log_batch(self.run_id, metrics=compact(batch), batch_id=uuid.uuid4().hex,
                                  patience_s=RETRY_PATIENCE_S)
            self.sent_points += len(batch)
        except APIError as exc:
            if exc.status == 413 and len(batch) > 1:
                # A server with a smaller body limit stored nothing: send it in halves.
                half = len(batch) // 2
                self._send(batch[:half])
                self._send(batch[half:])
                return
            self._fail(batch, exc)
        except BaseException as exc:
            self._fail(batch, exc)

    def _fail(self, batch: list[dict], exc: BaseException) -> None:
        if self._error is None and not self._reported:  # the first failure is the one worth reporting
            self._error = TrackingError(f"{len(batch)} metric points were not stored in run {self.run_id}: {exc}")
            self._error.__cause__ = exc

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            closing = self._closed  # read before draining, so nothing logged before close() is left
            while self._send_some():
                pass
            if closing:
                return

    def flush(self) -> None:
        """Send what is buffered now, from the calling thread."""
        while self._send_some():
            pass
        self._raise_pending()

    def close(self) -> None:
        """Send everything left, stop the sender and raise the first error it met, if any."""
        if not self._closed:
            self._closed = True
            self._wake.set()
            if self._thread is not None:
                self._thread.join()
            _open_sinks.discard(self)
        self._raise_pending()


# Sinks not closed yet, closed at exit so that a script that never ends its run still
# sends its last metrics (the sender is a daemon thread and would be killed mid-buffer).
_open_sinks: set[HttpSink] = set()


@atexit.register
def _close_open_sinks() -> None:
    for sink in list(_open_sinks):
        try:
            sink.close()
        except Exception as exc:
            print(f"flowdeck: could not send the last metrics of run {sink.run_id}: {exc}", file=sys.stderr)


class ActiveRun:
    """What the module-level log_* functions write to."""

    def __init__(self, sink: Sink, run_id: Any) -> None:
        self.sink = sink
        self.run_id = run_id
        self._step_counters: dict[str, int] = {}

    def next_step(self, key: str) -> int:
        step = self._step_counters.get(key, 0)
        self._step_counters[key] = step + 1
        return step

    def note_step(self, key: str, step: int) -> None:
        self._step_counters[key] = max(self._step_counters.get(key, 0), step + 1)


_active: list[ActiveRun] = []


@contextmanager
def activate(sink: Sink, run_id: Any):
    run = ActiveRun(sink, run_id)
    _active.append(run)
    try:
        yield run
    finally:
        _active.remove(run)


def active_run() -> ActiveRun:
    if not _active:
        raise RuntimeError("No active Flowdeck run: log from inside a workflow step.")
    return _active[-1]


# --- the public logging functions ---------------------------------------------------------------
def log_metric(key: str, value: float, step: int | None = None, timestamp: float | None = None) -> None:
    """Log one metric point. ``step`` defaults to one more than the key's last step."""
    log_metrics({key: value}, step=step, timestamp=timestamp)


def log_metrics(values: dict[str, float], step: int | None = None, timestamp: float | None = None) -> None:
    run = active_run()
    ts = int((timestamp if timestamp is not None else time.time()) * 1000)
    points = []
    for key, value in values.items():
        number = check_metric(key, value)
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise TrackingError(f"Metric '{key}' step must be an int, got {step!r}.")
        this_step = run.next_step(key) if step is None else step
        if step is not None:
            run.note_step(key, step)
        points.append({"key": key, "value": number, "step": this_step, "timestamp": ts})
    run.sink.metrics(points)


def log_param(key: str, value: Any) -> None:
    log_params({key: value})


def log_params(values: dict[str, Any]) -> None:
    active_run().sink.params({k: check_text(k, v, "param") for k, v in values.items()})


def set_tag(key: str, value: Any) -> None:
    active_run().sink.tags({key: check_text(key, value, "tag")})


def set_tags(values: dict[str, Any]) -> None:
    active_run().sink.tags({k: check_text(k, v, "tag") for k, v in values.items()})


def log_artifact(local_path: str | Path, name: str | None = None) -> None:
    """Log a file, or every file in a folder (kept under the folder's name)."""
    path = Path(local_path)
    sink = active_run().sink
    if path.is_dir():
        base = name or path.name
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            sink.artifact(file, f"{base}/{file.relative_to(path).as_posix()}")
    elif path.is_file():
        sink.artifact(path, name or path.name)
    else:
        raise TrackingError(f"Artifact '{local_path}' does not exist.")


log_artifacts = log_artifact
