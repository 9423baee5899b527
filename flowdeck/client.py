"""The HTTP client for Flowdeck's REST API (the same API anyone can use; see /api/docs/)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from . import config
from .errors import APIError, ConfigError

TRANSIENT_STATUS = {502, 503, 504}
RETRIES = 5


class Client:
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
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, retry: bool | None = None, **kwargs) -> Any:
        """Send a request and return its JSON. Idempotent requests are retried on network
        errors and 502/503/504 with backoff."""
        retry = method in ("GET", "PUT", "DELETE", "HEAD") if retry is None else retry
        attempts = RETRIES if retry else 1
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise APIError(0, "unreachable", f"Cannot reach {self.url}: {exc}") from None
                time.sleep(min(0.2 * 2**attempt, 5))
                continue
            if response.status_code in TRANSIENT_STATUS and attempt + 1 < attempts:
                time.sleep(min(0.2 * 2**attempt, 5))
                continue
            return self._decode(response)
        raise AssertionError("unreachable")

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise APIError(response.status_code, err.get("code", "error"), err.get("message", ""), err.get("field"))
            except (ValueError, KeyError, TypeError):
                raise APIError(response.status_code, "error", response.text[:300] or response.reason_phrase) from None
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

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

    def subscribe(self, ref: str, *, pin: str | None = None) -> dict:
        namespace, name, version = _split_ref(ref)
        return self.request("PUT", f"/api/v1/workflows/{namespace}/{name}/subscription", json={"pin": pin or version or ""})

    def unsubscribe(self, ref: str) -> dict:
        namespace, name = _split_ref(ref)[:2]
        return self.request("DELETE", f"/api/v1/workflows/{namespace}/{name}/subscription")

    # --- runs ------------------------------------------------------------------------------------
    def run_start(self, ref: str, *, params: dict | None = None, name: str = "") -> dict:
        return self.request("POST", "/api/v1/runs", json={"workflow": ref, "params": params or {}, "name": name})

    def run(self, run_id: int) -> dict:
        return self.request("GET", f"/api/v1/runs/{run_id}")

    def runs(self, *, workflow: str | None = None, status: str | None = None, limit: int = 50) -> list[dict]:
        params = {k: v for k, v in {"workflow": workflow, "status": status, "limit": limit}.items() if v}
        return self.request("GET", "/api/v1/runs", params=params)["results"]

    def run_stop(self, run_id: int) -> dict:
        return self.request("POST", f"/api/v1/runs/{run_id}/stop")

    def step_log(self, run_id: int, step: str) -> dict:
        return self.request("GET", f"/api/v1/runs/{run_id}/steps/{step}/log")

    def log_batch(self, run_id: int, *, metrics=(), params=None, tags=None, batch_id: str | None = None) -> dict:
        body = {"metrics": list(metrics), "params": params or {}, "tags": tags or {}, "batch_id": batch_id or ""}
        # Safe to retry: the server stores a batch id once.
        return self.request("POST", f"/api/v1/runs/{run_id}/log-batch", json=body, retry=bool(batch_id))

    def artifact_upload(self, run_id: int, local_path: str | Path, name: str) -> dict:
        """Upload one file: straight to the store with a presigned URL when it offers one."""
        target = self.request("POST", f"/api/v1/runs/{run_id}/artifacts/uploads", json={"path": name}, retry=True)
        path = Path(local_path)
        if target.get("url"):
            for attempt in range(RETRIES):
                try:
                    with open(path, "rb") as fh:
                        response = httpx.put(target["url"], content=fh, timeout=None)
                    if response.status_code < 300:
                        break
                    if response.status_code not in TRANSIENT_STATUS or attempt + 1 >= RETRIES:
                        raise APIError(response.status_code, "upload_failed", f"Upload of '{name}' failed: {response.text[:200]}")
                except httpx.TransportError as exc:
                    if attempt + 1 >= RETRIES:
                        raise APIError(0, "upload_failed", f"Upload of '{name}' failed: {exc}") from None
                time.sleep(min(0.2 * 2**attempt, 5))
            return self.request("POST", f"/api/v1/runs/{run_id}/artifacts/commit", json={"path": target["path"]}, retry=True)
        with open(path, "rb") as fh:
            return self.request(
                "PUT",
                f"/api/v1/runs/{run_id}/artifacts/content/{target['path']}",
                content=fh.read(),
                headers={"Content-Type": "application/octet-stream", "Content-Disposition": f'attachment; filename="{path.name}"'},
            )


def _split_ref(ref: str) -> tuple[str, str, str | None]:
    base, _, version = ref.partition("@")
    namespace, _, name = base.partition("/")
    if not namespace or not name:
        raise ValueError(f"'{ref}' is not a workflow reference like namespace/name[@version].")
    return namespace, name, version or None
