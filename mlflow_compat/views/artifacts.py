"""The ``mlflow-artifacts`` proxy (upload, download, list, delete, multipart) and the tracking
API's artifacts/list, over Flowdeck's storage (artifact_store.py)."""
from __future__ import annotations

import posixpath

from ..artifact_store import download, listing, multipart_abort, multipart_complete, multipart_create, remove, target, upload
from ..errors import invalid
from ..http import Request, endpoint
from ..serialize import artifact_uri


@endpoint("GET", "PUT", "DELETE", run_token=True, read_body=False)
def artifact(request: Request, path: str):
    method = request.http.method
    t = target(caller=request.caller, path=path, write=method != "GET")
    if method == "GET":
        return download(t)
    if method == "PUT":
        upload(t, request.http)
        return {}
    remove(t)
    return {}


@endpoint("GET", run_token=True)
def artifact_list(request: Request) -> dict:
    t = target(caller=request.caller, path=request.params.str("path"), write=False)
    return {"files": listing(t)}


def _upload_target(request: Request, path: str):
    # The URL names the folder; the body's "path" is the client's local file, whose name it keeps
    # (as MLflow's own server does).
    name = posixpath.basename(request.params.str("path", required=True).replace("\\", "/"))
    return target(caller=request.caller, path=f"{path.rstrip('/')}/{name}", write=True)


@endpoint("POST", run_token=True)
def mpu_create(request: Request, path: str) -> dict:
    t = _upload_target(request, path)
    return multipart_create(t, request.params.int("num_parts", required=True))


@endpoint("POST", run_token=True)
def mpu_complete(request: Request, path: str) -> dict:
    t = _upload_target(request, path)
    parts = request.params.list("parts")
    if not parts:
        raise invalid("Completing a multipart upload needs its parts.")
    multipart_complete(t, request.params.str("upload_id", required=True), parts)
    return {}


@endpoint("POST", run_token=True)
def mpu_abort(request: Request, path: str) -> dict:
    t = _upload_target(request, path)
    multipart_abort(t, request.params.str("upload_id", required=True))
    return {}


@endpoint("GET", run_token=True)
def run_artifacts_list(request: Request) -> dict:
    """The tracking API's artifacts/list: a run's files under ``path``, relative to the run."""
    p = request.params
    run_id = p.str("run_id") or p.str("run_uuid")
    rel = p.str("path").strip("/")
    t = target(caller=request.caller, path=f"runs/{run_id}/artifacts/{rel}".rstrip("/"), write=False)
    return {"root_uri": artifact_uri(t.run.pk), "files": listing(t, from_root=True)}
