"""Tracking code that is not a workflow, the way MLflow does it::

    with flowdeck.start_run(experiment="churn", name="baseline") as run:
        flowdeck.log_param("lr", 0.01)
        for epoch in range(10):
            flowdeck.log_metric("loss", 1 / (epoch + 1))
    print(run.url)

With a server configured (``FLOWDECK_URL`` and a token, or ``flowdeck login``) the run is
created there and logged to in batches; without one it is tracked to
``.flowdeck/runs/<id>/`` and the SDK says so once on stderr.
"""
from __future__ import annotations

import atexit
import datetime as dt
import json
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config
from .errors import APIError
from .tracking import HttpSink, LocalSink, Sink, TrackingError, activate, check_text

if TYPE_CHECKING:
    from .client import Client

FINAL = ("succeeded", "failed", "stopped")
MAX_NAME = 200
DEFAULT_TRACK_DIR = ".flowdeck/runs"

_local_notice_shown = False
_open_runs: list[TrackedRun] = []
_lock = threading.Lock()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


class TrackedRun:
    """A run being tracked. ``id`` is the server's run id (an int), or a local id (a str)
    when no server is configured; ``url`` is its web page, or a ``file://`` URL of its folder.

    Use it as a context manager, or call :meth:`end` yourself.
    """

    def __init__(
        self,
        *,
        id: int | str,
        url: str,
        experiment: str,
        name: str,
        sink: Sink,
        client: Client | None = None,
        folder: Path | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.id = id
        self.url = url
        self.experiment = experiment
        self.name = name
        self.status = "running"
        self.sink = sink
        self.folder = folder
        self._client = client
        self._tags = tags or {}
        self._started_at = _now()
        self._activation = activate(sink, id)
        self._activation.__enter__()
        with _lock:
            _open_runs.append(self)
        if folder is not None:
            self._write_record()

    @property
    def is_local(self) -> bool:
        return self._client is None

    def __repr__(self) -> str:
        return f"<TrackedRun {self.id} {self.experiment}/{self.name or '-'} {self.status} {self.url}>"

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None or (issubclass(exc_type, SystemExit) and exc.code in (0, None)):
            self.end("succeeded")  # sys.exit(0) inside the block is a success
        elif issubclass(exc_type, KeyboardInterrupt):
            self._end_quietly("stopped", "Interrupted.")
        else:
            self._end_quietly("failed", f"{exc_type.__name__}: {exc}")
        return False  # the exception, if any, goes on

    def end(self, status: str = "succeeded", *, error: str = "") -> None:
        """Flush everything logged, then record the run as ``status`` (succeeded, failed or
        stopped). Ending twice does nothing. If metrics could not be stored the run is
        recorded as failed and the error is raised."""
        if status not in FINAL:
            raise TrackingError(f"A run ends as one of {', '.join(FINAL)}, not {status!r}.")
        with _lock:
            if self.status != "running":
                return
            self.status = status
            if self in _open_runs:
                _open_runs.remove(self)
        self._activation.__exit__(None, None, None)
        flush_error: Exception | None = None
        try:
            self.sink.close()  # sends every buffered metric before the run is marked ended
        except Exception as exc:
            flush_error = exc
            if status == "succeeded":
                status, error = "failed", f"Some metrics were not stored: {exc}"
            self.status = status
        try:
            self._record_end(status, error)
        finally:
            if self._client is not None:
                self._client.close()
        if flush_error is not None:
            raise flush_error

    def _end_quietly(self, status: str, error: str) -> None:
        # On the way out of an exception: report our own trouble, never mask theirs.
        try:
            self.end(status, error=error[:2000])
        except Exception as exc:
            print(f"flowdeck: run {self.id} could not be ended cleanly: {exc}", file=sys.stderr)

    def _record_end(self, status: str, error: str) -> None:
        if self._client is None:
            self._write_record(status=status, error=error, finished_at=_now())
            return
        try:
            self._client.run_end(self.id, status, error=error)
        except APIError as exc:
            # 409: it has already ended, e.g. our first request got through but its answer
            # was lost. Fine if it ended as we say.
            if exc.status != 409 or self._client.run(self.id).get("status") != status:
                raise

    def _write_record(self, **changes: Any) -> None:
        record = {
            "id": self.id, "experiment": self.experiment, "name": self.name, "tags": self._tags,
            "status": self.status, "started_at": self._started_at, "finished_at": None, "error": "",
        }
        record.update(changes)
        (self.folder / "run.json").write_text(json.dumps(record, indent=1))


def start_run(
    experiment: str,
    name: str = "",
    tags: dict[str, Any] | None = None,
    *,
    namespace: str | None = None,
    track_dir: str | Path | None = None,
) -> TrackedRun:
    """Start a tracked run; ``log_param``, ``log_metric``, ``set_tag`` and ``log_artifact``
    write to it until it ends.

    ``experiment`` groups runs; it is created on first use, in your personal namespace or
    in ``namespace``. As a context manager the run ends as succeeded, as failed if the block
    raises (after flushing what was logged; the exception goes on), or as stopped on Ctrl-C.
    Without a server configured, the run is tracked under ``track_dir`` (default
    ``.flowdeck/runs``).
    """
    if not isinstance(experiment, str) or not experiment.strip() or len(experiment.strip()) > MAX_NAME:
        raise TrackingError(f"experiment must be a non-empty name of at most {MAX_NAME} characters, got {experiment!r}.")
    experiment = experiment.strip()
    name = str(name or "")
    if len(name) > MAX_NAME:
        raise TrackingError(f"A run name is at most {MAX_NAME} characters.")
    clean_tags = {k: check_text(k, v, "tag") for k, v in (tags or {}).items()}
    found = config.load()
    if found.url and found.token:
        from .client import Client

        client = Client(found.url, found.token)
        try:
            created = client.tracked_run_create(experiment=experiment, name=name, tags=clean_tags, namespace=namespace)
        except BaseException:
            client.close()
            raise
        return TrackedRun(
            id=created["id"], url=client.run_url(created["id"]), experiment=experiment, name=name,
            sink=HttpSink(client, created["id"]), client=client, tags=clean_tags,
        )
    run_id = f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder = Path(track_dir or DEFAULT_TRACK_DIR) / run_id
    sink = LocalSink(folder)
    if clean_tags:
        sink.tags(clean_tags)
    _say_local_once(folder)
    return TrackedRun(
        id=run_id, url=folder.resolve().as_uri(), experiment=experiment, name=name,
        sink=sink, folder=folder, tags=clean_tags,
    )


def _say_local_once(folder: Path) -> None:
    global _local_notice_shown
    if not _local_notice_shown:
        _local_notice_shown = True
        print(
            f"flowdeck: no server configured (set FLOWDECK_URL and FLOWDECK_TOKEN, or run `flowdeck login`); "
            f"tracking to {folder.parent}/",
            file=sys.stderr,
        )


def _uncaught_exception() -> BaseException | None:
    # The interpreter stores an uncaught exception here before running atexit hooks.
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


@atexit.register
def _end_open_runs() -> None:
    """Runs left open when the script exits end as succeeded, or failed / stopped when the
    script died of an exception / Ctrl-C. Registered after tracking's hook, so it runs first."""
    exc = _uncaught_exception()
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        exc = None
    for run in reversed(list(_open_runs)):
        if exc is None:
            run._end_quietly("succeeded", "")
        elif isinstance(exc, KeyboardInterrupt):
            run._end_quietly("stopped", "Interrupted.")
        else:
            run._end_quietly("failed", f"{type(exc).__name__}: {exc}")
