"""The HTTP client for Flowdeck's REST API (the same API anyone can use; see /api/docs/)."""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from . import config
from .client_accounts import AccountsMixin
from .errors import APIError, ConfigError
from .wire import MAX_BACKOFF_S, RETRIES, TRANSIENT_STATUS, decode, json_loads as _json_loads, log_batch_request, with_retries

MiB = 1024 * 1024
# Files above this go to S3 in parts, several at a time; FLOWDECK_MULTIPART_THRESHOLD overrides it.
MULTIPART_THRESHOLD = 64 * MiB
MULTIPART_PART_SIZE = 16 * MiB
MULTIPART_WORKERS = 4
PROGRESS_MIN_BYTES = 4 * MiB
CHUNK = 1 * MiB


def multipart_threshold() -> int:
    raw = os.environ.get("FLOWDECK_MULTIPART_THRESHOLD", "").strip()
    return int(raw) if raw else MULTIPART_THRESHOLD


_SSL_CONTEXT = None

def _ssl_context():
    """One TLS context per process: building it reads the CA bundle (tens of ms), and a
    step forked from the fork server inherits the one built there."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context()
    return _SSL_CONTEXT


def _proxied(url: str) -> bool:
    """Whether the environment names a proxy for ``url`` (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY
    and NO_PROXY, as httpx reads them)."""
    import urllib.request
    from urllib.parse import urlsplit

    proxies = urllib.request.getproxies()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def warm_up() -> None:
    """Build the TLS context and import what httpx imports lazily, once (the fork server)."""
    Client("http://127.0.0.1:9", "").close()


class Client(AccountsMixin):
    """A thin, typed wrapper over the REST API.

    ``url`` and ``token`` default to ``FLOWDECK_URL`` / ``FLOWDECK_TOKEN`` and then to the
    file written by ``flowdeck login``.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0) -> None:
        found = config.load(url, token)
        if not found.url:
            raise ConfigError("No Flowdeck server: run `flowdeck login` or set FLOWDECK_URL.")
        self.url = found.url.rstrip("/")
        self.token = found.token
        headers = {"User-Agent": "flowdeck-sdk"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=_ssl_context())
        # Log-batches, the one call a training loop makes many times a second, go over a
        # kept-alive http.client connection (flowdeck.step_client) unless a proxy is set for
        # the server, which only httpx would honour. One request on it at a time: a second
        # thread sending meanwhile goes through httpx.
        self._batches = None
        if self.token and not _proxied(self.url):
            from .step_client import StepClient

            self._batches = StepClient(self.url, self.token, timeout=timeout, user_agent=headers["User-Agent"])
        self._batches_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()
        if self._batches is not None:
            self._batches.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, retry: bool | None = None, patience_s: float = 0.0, **kwargs) -> Any:
        """Send a request and return its JSON. Idempotent requests are retried on network
        errors and 502/503/504 with backoff: ``RETRIES`` times, or for ``patience_s`` seconds
        if that is longer (the metrics sender waits out a server restart this way)."""
        return self._decode(self._send(method, path, retry=retry, patience_s=patience_s, **kwargs))

    def _send(self, method: str, path: str, *, retry: bool | None = None, patience_s: float = 0.0, **kwargs) -> httpx.Response:
        """The response, after the retries ``request`` describes (errors are not raised here)."""
        retry = method in ("GET", "PUT", "DELETE", "HEAD") if retry is None else retry
        return with_retries(lambda: self._http.request(method, path, **kwargs), lambda r: r.status_code,
                            retry=retry, patience_s=patience_s, unreachable=(httpx.TransportError,), url=self.url)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        return decode(response.status_code, response.headers.get("content-type", ""), response.content,
                      response.reason_phrase)

    # --- account ---------------------------------------------------------------------------------
    def me(self) -> dict:
        return self.request("GET", "/api/v1/me")

    # --- registry and gallery ---------------------------------------------------------------------
    def publish(
        self,
        *,
        spec: dict,
        bundle: bytes,
        version: str | None = None,
        namespace: str | None = None,
        readme: str = "",
        changelog: str = "",
        visibility: str | None = None,
        tags: list[str] | None = None,
    ) -> dict:
        import json

        data = {"spec": json.dumps(spec), "readme": readme, "changelog": changelog, "tags": ",".join(tags or [])}
        if version:
            data["version"] = version
        if namespace:
            data["namespace"] = namespace
        if visibility:
            data["visibility"] = visibility
        files = {"bundle": ("bundle.tar.gz", bundle, "application/gzip")}
        return self.request("POST", "/api/v1/workflows/publish", data=data, files=files)

    def search(self, q: str = "", *, tag: str = "", sort: str = "updated", limit: int = 50) -> list[dict]:
        body = self.request("GET", "/api/v1/workflows", params={"q": q, "tag": tag, "sort": sort, "limit": limit})
        return body["results"]

    def workflow(self, ref: str) -> dict:
        namespace, name = _split_ref(ref)[:2]
        return self.request("GET", f"/api/v1/workflows/{namespace}/{name}")

    def versions(self, ref: str) -> list[dict]:
        """Every version of ``ns/name``, newest first, yanked and deprecated ones included."""
        return self.workflow(ref)["versions"]

    def version_yank(self, ref: str, *, reason: str) -> dict:
        """Yank ``ns/name@version``: new runs of it are refused. Needs the editor role."""
        return self.request("POST", _version_path(ref, "yank"), json={"reason": reason})

    def version_unyank(self, ref: str) -> dict:
        return self.request("DELETE", _version_path(ref, "yank"))

    def version_deprecate(self, ref: str, *, successor: str | None = None, message: str = "") -> dict:
        """Deprecate ``ns/name@version``, pointing at ``successor`` (``1.2.0`` or ``ns/name@1.2.0``)."""
        return self.request("POST", _version_path(ref, "deprecate"), json={"successor": successor, "message": message})

    def version_diff(self, ref: str, *, from_version: str | None = None, to_version: str | None = None) -> dict:
        """Params, steps and files changed between two versions (default: the latest and the one before)."""
        namespace, name = _split_ref(ref)[:2]
        query = {k: v for k, v in (("from", from_version), ("to", to_version)) if v}
        return self.request("GET", f"/api/v1/workflows/{namespace}/{name}/diff", params=query)

    def subscribe(self, ref: str, *, pin: str | None = None) -> dict:
        namespace, name, version = _split_ref(ref)
        return self.request("PUT", f"/api/v1/workflows/{namespace}/{name}/subscription", json={"pin": pin or version or ""})

    def fork(self, ref: str, *, namespace: str | None = None, name: str | None = None) -> dict:
        """Fork ``ns/name[@version]`` into your namespace (or ``namespace``) as a new workflow
        ``name`` (default: the same name). Answers the new version, with ``forked_from``."""
        ns, workflow, version = _split_ref(ref)
        body = {"version": version or "", "namespace": namespace or "", "name": name or ""}
        return self.request("POST", f"/api/v1/workflows/{ns}/{workflow}/fork", json=body)

    def star(self, ref: str, *, remove: bool = False) -> dict:
        namespace, name = _split_ref(ref)[:2]
        return self.request("DELETE" if remove else "PUT", f"/api/v1/workflows/{namespace}/{name}/star")

    def notifications(self, *, unread: bool = False, limit: int = 50) -> list[dict]:
        body = self.request("GET", "/api/v1/notifications", params={"unread": "1" if unread else "", "limit": limit})
        return body["results"]

    def notifications_read(self, ids: list[int] | None = None) -> dict:
        return self.request("POST", "/api/v1/notifications/read", json={"ids": ids} if ids is not None else {})

    def unsubscribe(self, ref: str) -> dict:
        namespace, name = _split_ref(ref)[:2]
        return self.request("DELETE", f"/api/v1/workflows/{namespace}/{name}/subscription")

    # --- runs ------------------------------------------------------------------------------------
    def run_start(
        self, ref: str, *, params: dict | None = None, name: str = "", steps: list[str] | None = None,
        source_run: int | None = None, namespace: str | None = None,
    ) -> dict:
        """Start a run (in ``namespace``, a team you are an editor of; default: yours); with
        ``steps`` and ``source_run``, a partial run that reuses the source run's outputs for
        the steps it does not run."""
        body: dict = {"workflow": ref, "params": params or {}, "name": name}
        if namespace:
            body["namespace"] = namespace
        if steps is not None:
            body["steps"] = steps
        if source_run is not None:
            body["source_run"] = source_run
        return self.request("POST", "/api/v1/runs", json=body)

    def run(self, run_id: int) -> dict:
        return self.request("GET", f"/api/v1/runs/{run_id}")

    def runs(
        self, *, workflow: str | None = None, status: str | None = None, experiment: str | None = None, limit: int = 50
    ) -> list[dict]:
        wanted = {"workflow": workflow, "status": status, "experiment": experiment, "limit": limit}
        params = {k: v for k, v in wanted.items() if v}
        return self.request("GET", "/api/v1/runs", params=params)["results"]

    def run_stop(self, run_id: int) -> dict:
        return self.request("POST", f"/api/v1/runs/{run_id}/stop")

    def run_retry(self, run_id: int, *, params: dict | None = None) -> dict:
        """Retry a finished run; ``params`` edits its parameters, and the steps that read them run again."""
        return self.request("POST", f"/api/v1/runs/{run_id}/retry", json={"params": params} if params else {})

    def run_copy(self, run_id: int, *, params: dict | None = None, name: str = "") -> dict:
        return self.request("POST", f"/api/v1/runs/{run_id}/copy", json={"params": params or {}, "name": name})

    def run_delete(self, run_id: int) -> dict:
        return self.request("DELETE", f"/api/v1/runs/{run_id}")

    def step_log(self, run_id: int, step: str, *, offset: int | None = None, attempt: int | None = None) -> dict:
        """The log's tail; with ``offset``, the text after that byte (``text``,
        ``next_offset``, ``complete``, ...) to follow a running step."""
        params = {k: v for k, v in (("offset", offset), ("attempt", attempt)) if v is not None}
        return self.request("GET", f"/api/v1/runs/{run_id}/steps/{step}/log", params=params)

    def log_batch(
        self, run_id: int, *, metrics=(), params=None, tags=None, batch_id: str | None = None, patience_s: float = 0.0
    ) -> dict:
        """``metrics``: points ``[{"key", "value", "step", "timestamp"}]`` or the compact form
        ``{key: {"value": [...], "step": [...], "timestamp": [...]}}``."""
        # Safe to retry: the server stores a batch id once, so a replay of a batch it already
        # stored (its answer was lost on the way back) is a no-op.
        body = log_batch_request(metrics, params, tags, batch_id)
        if self._batches is not None and self._batches_lock.acquire(blocking=False):
            try:
                return self._batches.send_log_batch(run_id, body, retry=bool(batch_id), patience_s=patience_s)
            finally:
                self._batches_lock.release()
        return self.request("POST", f"/api/v1/runs/{run_id}/log-batch", content=body,
                            headers={"Content-Type": "application/json"}, retry=bool(batch_id), patience_s=patience_s)

    def metric_history(self, run_id: int, key: str, *, max_points: int | None = None) -> list[dict]:
        """The points of metric ``key``, ``[{"step", "value", "timestamp"}]`` by step: all of
        them, or with ``max_points`` a sample of at most that many that keeps the curve's shape
        (each step bucket's lowest and highest point, and the first and last)."""
        if max_points:
            return self.request("GET", f"/api/v1/runs/{run_id}/metrics/{key}", params={"max_points": max_points})["points"]
        # The whole series travels as columns (half the bytes, and a third of the decoding of
        # an object per point); the point objects are made here.
        c = self.metric_columns(run_id, key)
        return [{"step": s, "value": v, "timestamp": t} for s, v, t in zip(c["step"], c["value"], c["timestamp"])]

    def metric_columns(self, run_id: int, key: str) -> dict[str, list]:
        """Every point of metric ``key`` as columns, ``{"step": [...], "value": [...],
        "timestamp": [...]}`` by step: half the bytes of point objects and far quicker to
        decode (``pandas.DataFrame(columns)`` takes it as it is). Decoded with orjson when it
        is installed (``pip install flowdeck[fast]``), else with the standard library."""
        response = self._send("GET", f"/api/v1/runs/{run_id}/metrics/{key}", params={"columns": 1})
        if response.status_code >= 400:
            self._decode(response)
        body = _json_loads(response.content)
        return {name: body[name] for name in ("step", "value", "timestamp")}

    # --- tracked runs (outside workflows) ---------------------------------------------------
    def tracked_run_create(
        self, *, experiment: str, name: str = "", tags: dict | None = None, namespace: str | None = None
    ) -> dict:
        """Create a running run in ``experiment`` (created if new) to log to."""
        body: dict[str, Any] = {"experiment": experiment, "name": name, "tags": tags or {}}
        if namespace:
            body["namespace"] = namespace
        return self.request("POST", "/api/v1/experiments/runs", json=body)

    def run_end(self, run_id: int, status: str = "succeeded", *, error: str = "") -> dict:
        """End a tracked run as succeeded, failed or stopped."""
        return self.request("POST", f"/api/v1/runs/{run_id}/end", json={"status": status, "error": error})

    def experiments(self, *, limit: int = 100) -> list[dict]:
        return self.request("GET", "/api/v1/experiments", params={"limit": limit})["results"]

    def compare(self, run_ids: list[int], **options: Any) -> dict:
        """What the compare page shows for 2 to 100 runs (``GET /api/v1/compare``): the diff
        (``diff``), each key's last/best/min/max (``metrics``), gates, artifacts and the charts'
        ``series``. ``options`` are the API's: ``at="best"``, ``at="step", step=1000``,
        ``keys=["loss"]``, ``max_points=500``... Runs you cannot see are left out."""
        params = {"runs": ",".join(str(r) for r in run_ids)}
        for name, value in options.items():
            if value is not None:
                params[name] = ",".join(map(str, value)) if isinstance(value, list | tuple) else value
        return self.request("GET", "/api/v1/compare", params=params)

    def comparison_save(self, run_ids: list[int], *, title: str = "", namespace: str | None = None,
                        visibility: str = "team", options: dict | None = None) -> dict:
        """Save a comparison as a view with a short link (``url``), shared with ``namespace``'s
        members (``visibility="team"``) or kept to yourself (``"private"``)."""
        body = {"runs": list(run_ids), "title": title, "visibility": visibility, "options": options or {}}
        if namespace:
            body["namespace"] = namespace
        return self.request("POST", "/api/v1/comparisons", json=body)

    def trend(self, ref: str, *, metric: str | None = None, agg: str = "last", limit: int | None = None) -> dict:
        """A metric's value over the runs of workflow ``ns/name``, oldest first, with the
        thresholds its gates set on it (``runs[].thresholds``)."""
        params = {k: v for k, v in {"metric": metric, "agg": agg, "limit": limit}.items() if v is not None}
        return self.request("GET", f"/api/v1/workflows/{ref}/trend", params=params)

    def run_url(self, run_id: int) -> str:
        """The run's page in the web UI."""
        return f"{self.url}/runs/{run_id}/"

    # --- schedules and triggers ---------------------------------------------------------------
    def schedules(self, *, workflow: str | None = None, limit: int = 100) -> list[dict]:
        params = {"limit": limit, **({"workflow": workflow} if workflow else {})}
        return self.request("GET", "/api/v1/schedules", params=params)["results"]

    def schedule_create(
        self, ref: str, *, cron: str, params: dict | None = None, timezone: str = "UTC", name: str = "",
        skip_if_running: bool = True, max_retries: int = 0, namespace: str | None = None,
    ) -> dict:
        """Run ``ref`` (``ns/name`` for the latest version at each firing, or ``ns/name@X.Y.Z``) on ``cron``."""
        body = {"workflow": ref, "cron": cron, "params": params or {}, "timezone": timezone, "name": name,
                "skip_if_running": skip_if_running, "max_retries": max_retries, "namespace": namespace or ""}
        return self.request("POST", "/api/v1/schedules", json=body)

    def schedule(self, schedule_id: int) -> dict:
        return self.request("GET", f"/api/v1/schedules/{schedule_id}")

    def schedule_pause(self, schedule_id: int) -> dict:
        return self.request("POST", f"/api/v1/schedules/{schedule_id}/pause")

    def schedule_resume(self, schedule_id: int) -> dict:
        return self.request("POST", f"/api/v1/schedules/{schedule_id}/resume")

    def schedule_delete(self, schedule_id: int) -> None:
        self.request("DELETE", f"/api/v1/schedules/{schedule_id}")

    def triggers(self, *, workflow: str | None = None, limit: int = 100) -> list[dict]:
        params = {"limit": limit, **({"workflow": workflow} if workflow else {})}
        return self.request("GET", "/api/v1/triggers", params=params)["results"]

    def trigger_create(
        self, ref: str, *, mapping: dict | None = None, params: dict | None = None, name: str = "",
        namespace: str | None = None,
    ) -> dict:
        """A webhook that runs ``ref``; the answer carries its ``url`` and ``secret`` (shown once)."""
        body = {"workflow": ref, "mapping": mapping or {}, "params": params or {}, "name": name,
                "namespace": namespace or ""}
        return self.request("POST", "/api/v1/triggers", json=body)

    def trigger(self, trigger_id: int) -> dict:
        return self.request("GET", f"/api/v1/triggers/{trigger_id}")

    def trigger_delete(self, trigger_id: int) -> None:
        self.request("DELETE", f"/api/v1/triggers/{trigger_id}")

    # --- artifacts ------------------------------------------------------------------------------
    def artifact_upload(self, run_id: int, local_path: str | Path, name: str) -> dict:
        """Upload one file: straight to the store with presigned URLs when it offers them
        (in parts above ``FLOWDECK_MULTIPART_THRESHOLD``), else through the server."""
        path = Path(local_path)
        size = path.stat().st_size
        progress = _Progress.maybe(name, size)
        try:
            if size > multipart_threshold():
                try:
                    return self._multipart_upload(run_id, path, name, size, progress)
                except APIError as exc:
                    if exc.code != "multipart_unsupported":
                        raise
                    # Local storage on the server: one PUT through it, below.
            return self._single_upload(run_id, path, name, size, progress)
        finally:
            if progress:
                progress.done()

    def _single_upload(self, run_id: int, path: Path, name: str, size: int, progress: _Progress | None) -> dict:
        target = self.request("POST", f"/api/v1/runs/{run_id}/artifacts/uploads", json={"path": name}, retry=True)
        if target.get("url"):
            _put_with_retries(target["url"], path, 0, size, name, progress)
            return self.request("POST", f"/api/v1/runs/{run_id}/artifacts/commit", json={"path": target["path"]}, retry=True)
        for attempt in range(RETRIES):
            if progress:
                progress.reset_to(0)
            try:
                response = self._http.put(
                    f"/api/v1/runs/{run_id}/artifacts/content/{target['path']}",
                    content=_chunks(path, 0, size, progress),
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(size),
                             "Content-Disposition": f'attachment; filename="{path.name}"'},
                    timeout=None,
                )
            except httpx.TransportError as exc:
                if attempt + 1 >= RETRIES:
                    raise APIError(0, "upload_failed", f"Upload of '{name}' failed: {exc}") from None
                time.sleep(min(0.2 * 2**attempt, MAX_BACKOFF_S))
                continue
            if response.status_code in TRANSIENT_STATUS and attempt + 1 < RETRIES:
                time.sleep(min(0.2 * 2**attempt, MAX_BACKOFF_S))
                continue
            return self._decode(response)
        raise AssertionError("unreachable")

    def _multipart_upload(self, run_id: int, path: Path, name: str, size: int, progress: _Progress | None) -> dict:
        base = f"/api/v1/runs/{run_id}/artifacts/multipart"
        plan = self.request("POST", base, json={"path": name, "size": size, "part_size": MULTIPART_PART_SIZE})
        part_size = plan["part_size"]

        def send(part: dict) -> dict:
            offset = (part["number"] - 1) * part_size
            length = min(part_size, size - offset)
            etag = _put_with_retries(part["url"], path, offset, length, name, progress)
            return {"number": part["number"], "etag": etag}

        try:
            with ThreadPoolExecutor(max_workers=MULTIPART_WORKERS, thread_name_prefix="flowdeck-upload") as pool:
                parts = list(pool.map(send, plan["parts"]))
            return self.request(
                "POST", f"{base}/complete",
                json={"path": plan["path"], "upload_id": plan["upload_id"], "parts": parts}, retry=True,
            )
        except BaseException:
            # Parts of an abandoned upload are stored (and billed) until aborted.
            try:
                self.request("POST", f"{base}/abort", json={"path": plan["path"], "upload_id": plan["upload_id"]}, retry=True)
            except APIError:
                pass
            raise


class _Counted:
    """Counts one attempt's bytes into a progress bar, so a retry can take them back."""

    def __init__(self, progress: _Progress | None) -> None:
        self.progress, self.sent = progress, 0

    def add(self, n: int) -> None:
        self.sent += n
        if self.progress:
            self.progress.add(n)

    def undo(self) -> None:
        self.add(-self.sent)


def _chunks(path: Path, offset: int, length: int, progress: _Progress | _Counted | None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = length
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                raise APIError(0, "upload_failed", f"{path} shrank while it was being uploaded.")
            left -= len(data)
            if progress:
                progress.add(len(data))
            yield data


def _put_with_retries(url: str, path: Path, offset: int, length: int, name: str, progress: _Progress | None) -> str:
    """PUT ``length`` bytes of ``path`` from ``offset`` to a presigned URL; returns the ETag."""
    for attempt in range(RETRIES):
        counted = _Counted(progress)
        try:
            # An explicit Content-Length: S3 refuses chunked bodies on presigned PUTs.
            response = httpx.put(url, content=_chunks(path, offset, length, counted),
                                 headers={"Content-Length": str(length)}, timeout=None)
            if response.status_code < 300:
                return response.headers.get("etag", "")
            if response.status_code not in TRANSIENT_STATUS or attempt + 1 >= RETRIES:
                raise APIError(response.status_code, "upload_failed", f"Upload of '{name}' failed: {response.text[:200]}")
        except httpx.TransportError as exc:
            if attempt + 1 >= RETRIES:
                raise APIError(0, "upload_failed", f"Upload of '{name}' failed: {exc}") from None
        counted.undo()  # this range is sent again
        time.sleep(min(0.2 * 2**attempt, MAX_BACKOFF_S))
    raise AssertionError("unreachable")


class _Progress:
    """A one-line upload progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.sent = name, total, 0
        self.started = self.shown = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def maybe(cls, name: str, total: int) -> _Progress | None:
        return cls(name, total) if total >= PROGRESS_MIN_BYTES and sys.stderr.isatty() else None

    def reset_to(self, sent: int) -> None:
        with self._lock:
            self.sent = sent

    def add(self, n: int) -> None:
        with self._lock:
            self.sent += n
            now = time.monotonic()
            if now - self.shown >= 0.2 or self.sent >= self.total:
                self.shown = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(max(self.sent / self.total, 0.0), 1.0) if self.total else 1.0
        bar = "#" * int(frac * 30)
        rate = self.sent / MiB / max(now - self.started, 1e-6)
        sys.stderr.write(f"\r{self.name[-30:]:<30} [{bar:<30}] {frac:4.0%} "
                         f"{self.sent / MiB:7.1f}/{self.total / MiB:.1f} MiB {rate:6.1f} MiB/s")
        sys.stderr.flush()

    def done(self) -> None:
        with self._lock:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()


def _split_ref(ref: str) -> tuple[str, str, str | None]:
    base, _, version = ref.partition("@")
    namespace, _, name = base.partition("/")
    if not namespace or not name:
        raise ValueError(f"'{ref}' is not a workflow reference like namespace/name[@version].")
    return namespace, name, version or None


def _version_path(ref: str, action: str) -> str:
    namespace, name, version = _split_ref(ref)
    if not version:
        raise ValueError(f"'{ref}' names no version; use namespace/name@VERSION.")
    return f"/api/v1/workflows/{namespace}/{name}/versions/{version}/{action}"
