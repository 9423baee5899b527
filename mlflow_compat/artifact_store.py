"""Where an ``mlflow-artifacts`` path lives in Flowdeck's storage, and who may reach it.

A run's artifact URI is ``mlflow-artifacts:/runs/<run id>/artifacts``, so the proxy path
``runs/<id>/artifacts/<file>`` is the run's artifact key in core/storage.py, and a file the
mlflow client uploads is a Flowdeck artifact of that run (listed on its run page). A logged
model's is ``mlflow-artifacts:/models/<model id>/artifacts``, stored under ``mlflow/models/``.
All bytes go through core/storage.py: local files, or S3 when configured.
"""
from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO

from django.http import FileResponse, HttpResponse, HttpResponseRedirect

from core import storage
from core.errors import InvalidInput
from runs.models import Artifact, Run
from runs.services.tracking import artifact_multipart_complete, artifact_put

from .auth import Caller
from .errors import invalid, missing
from .logged_models import logged_model_read, logged_model_writable
from .models import LoggedModel
from .run_service import run_for_logging, run_read

_PATH = re.compile(r"^(?P<kind>runs|models)/(?P<id>[\w-]+)/artifacts(?:/(?P<rel>.*))?$")
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class Target:
    run: Run | None
    model: LoggedModel | None
    rel: str  # inside the run's or model's artifact root; "" is the root

    def key(self, rel: str | None = None) -> str:
        rel = self.rel if rel is None else rel
        if self.run is not None:
            return storage.artifact_key(self.run.pk, rel)
        return storage.logged_model_key(self.model.pk, f"artifacts/{rel}")

    @property
    def prefix(self) -> str:
        root = f"runs/{self.run.pk}/artifacts/" if self.run is not None else \
            f"{storage.logged_model_prefix(self.model.pk)}artifacts/"
        return root + (self.rel.rstrip("/") + "/" if self.rel else "")


def _clean(rel: str) -> str:
    rel = (rel or "").strip("/")
    if not rel:
        return ""
    try:
        return storage.clean_relpath(rel)
    except InvalidInput as exc:
        raise invalid(exc.message) from None


def target(*, caller: Caller, path: str, write: bool) -> Target:
    """The run or logged model a proxy path names, checked for reading or writing."""
    m = _PATH.match((path or "").strip("/"))
    if m is None:
        raise missing(f"No artifact at '{path}': paths are runs/<run id>/artifacts/... or models/<id>/artifacts/...")
    rel = _clean(m.group("rel") or "")
    if m.group("kind") == "runs":
        run = run_for_logging(caller=caller, run_id=m.group("id")) if write else run_read(caller=caller, run_id=m.group("id"))
        return Target(run=run, model=None, rel=rel)
    model = logged_model_read(caller=caller, model_id=m.group("id"))
    if write:
        logged_model_writable(caller=caller, model=model)
    return Target(run=None, model=model, rel=rel)


def upload(t: Target, body: IO[bytes]) -> None:
    if not t.rel:
        raise invalid("An upload needs a file path.")
    # The request stream cannot seek, which S3's upload needs: spool it (to disk past 8 MiB).
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        shutil.copyfileobj(body, spool, 1024 * 1024)
        spool.seek(0)
        if t.run is not None:
            artifact_put(run=t.run, path=t.rel, content=spool)
        else:
            storage.put(t.key(), spool)


def download(t: Target) -> HttpResponse:
    key = t.key()
    if not t.rel or not storage.exists(key):
        raise missing(f"No such file: '{t.rel}'.")
    name = posixpath.basename(t.rel)
    url = storage.download_url(key, filename=name)
    if url:  # S3: the client fetches the bytes from the store itself
        return HttpResponseRedirect(url)
    return FileResponse(storage.open_read(key), content_type="application/octet-stream")


def listing(t: Target, *, from_root: bool = False) -> list[dict]:
    """The files and folders directly inside ``t`` as MLflow's FileInfo (path, is_dir, and
    file_size for files): paths are names in the folder for the proxy, or relative to the
    run's root (``from_root``) for the tracking API's artifacts/list."""
    prefix = t.prefix
    files: dict[str, int] = {}
    dirs: set[str] = set()
    for key, size in storage.list_keys(prefix):
        rest = key[len(prefix):]
        head, slash, _ = rest.partition("/")
        if slash:
            dirs.add(head)
        elif head:
            files[head] = size
    base = t.rel.rstrip("/") if from_root else ""
    join = (lambda n: f"{base}/{n}") if base else (lambda n: n)
    out = [{"path": join(d), "is_dir": True} for d in sorted(dirs)]
    out += [{"path": join(f), "is_dir": False, "file_size": files[f]} for f in sorted(files)]
    return out


def remove(t: Target) -> None:
    """Delete a file, or a folder and everything under it."""
    key = t.key() if t.rel else None
    if key and storage.exists(key):
        storage.delete(key)
        if t.run is not None:
            Artifact.objects.filter(run=t.run, path=t.rel).delete()
        return
    removed = storage.delete_prefix(t.prefix)
    if t.run is not None and t.rel:
        Artifact.objects.filter(run=t.run, path__startswith=t.rel.rstrip("/") + "/").delete()
    elif t.run is not None:
        Artifact.objects.filter(run=t.run).delete()
    if not removed:
        raise missing(f"No such file or folder: '{t.rel}'.")


# --- multipart (S3 only; server-info says so, so the client never asks on local storage) ----------
def multipart_create(t: Target, num_parts: int) -> dict:
    if not storage.multipart_supported():
        raise invalid("This server stores files locally: multipart upload is not available.")
    if not t.rel or not 1 <= num_parts <= 10_000:
        raise invalid("A multipart upload needs a file path and 1 to 10,000 parts.")
    upload_id = storage.multipart_start(t.key())
    urls = storage.multipart_part_urls(t.key(), upload_id, num_parts)
    return {"upload_id": upload_id,
            "credentials": [{"part_number": i, "url": url, "headers": {}} for i, url in enumerate(urls, start=1)]}


def multipart_complete(t: Target, upload_id: str, parts: list[dict]) -> None:
    numbered = [{"number": p.get("part_number"), "etag": p.get("etag")} for p in parts]
    if t.run is not None:
        artifact_multipart_complete(run=t.run, path=t.rel, upload_id=upload_id, parts=numbered)
    else:
        storage.multipart_complete(t.key(), upload_id, sorted((p["number"], p["etag"]) for p in numbered))


def multipart_abort(t: Target, upload_id: str) -> None:
    if storage.multipart_supported():
        storage.multipart_abort(t.key(), upload_id)
