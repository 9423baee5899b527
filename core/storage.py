"""The one door to stored bytes: bundles, artifacts, step logs and step outputs.

Everything else in Flowdeck goes through these functions, never through boto3 or file
paths, so local files and any S3-compatible store (AWS, MinIO, Ceph) share one code path.
The backend is the ``flowdeck`` alias in ``settings.STORAGES``.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
import posixpath
from collections.abc import Iterator
from datetime import datetime
from typing import IO, BinaryIO

from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.utils import timezone

from .errors import InvalidInput, NotFound

ALIAS = "flowdeck"
MAX_KEY_PART = 512


def _backend():
    # Looked up on each call: tests swap the backend with override_settings(STORAGES=...).
    return storages[ALIAS]


def is_s3() -> bool:
    return hasattr(_backend(), "bucket_name")


def _s3_client():
    return _backend().connection.meta.client


# --- key layout ---------------------------------------------------------------------------
def clean_relpath(path: str, *, field: str = "path") -> str:
    """Normalise a user-supplied relative path, refusing anything that escapes its folder."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidInput("A path is required.", field=field)
    if "\\" in path or "\x00" in path:
        raise InvalidInput(f"Path {path!r} has a backslash or NUL byte.", field=field)
    norm = posixpath.normpath(path.strip())
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or norm == ".":
        raise InvalidInput(f"Path {path!r} must be relative and stay inside its folder.", field=field)
    if len(norm) > MAX_KEY_PART:
        raise InvalidInput(f"Path {path!r} is longer than {MAX_KEY_PART} characters.", field=field)
    return norm


def bundle_key(digest: str) -> str:
    return f"bundles/sha256/{digest}.tar.gz"


def artifact_key(run_id: int, path: str) -> str:
    return f"runs/{run_id}/artifacts/{clean_relpath(path)}"


def step_key(run_id: int, step: str, attempt: int, name: str) -> str:
    return f"runs/{run_id}/steps/{step}/{attempt}/{name}"


def logged_model_key(model_id: str, path: str) -> str:
    """A file of an MLflow logged model (mlflow_compat): ``mlflow/models/<id>/<path>``."""
    return f"{logged_model_prefix(model_id)}{clean_relpath(path)}"


def logged_model_prefix(model_id: str) -> str:
    return f"mlflow/models/{clean_relpath(model_id, field='model_id')}/"


def run_prefix(run_id: int) -> str:
    return f"runs/{run_id}/"


# --- operations ---------------------------------------------------------------------------
def put(key: str, content: bytes | IO[bytes]) -> int:
    """Store ``content`` at ``key``, replacing what was there. Returns the size in bytes."""
    backend = _backend()
    if isinstance(content, bytes | bytearray):
        content = ContentFile(bytes(content))
    elif not hasattr(content, "chunks"):
        content = File(content)
    saved = backend.save(key, content)
    if saved != key:  # a backend that renames would break content addressing
        backend.delete(saved)
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}")
    return backend.size(key)


class StoredObjectMissing(NotFound):
    """The database names an object the store no longer has (deleted, or lost with a bucket)."""


@contextmanager
def _present(key: str) -> Iterator[None]:
    # Local files say FileNotFoundError; S3 says 404 on HEAD and NoSuchKey on GET. Either way
    # the caller gets one domain error, answered as a 404 rather than a 500.
    try:
        yield
    except FileNotFoundError:
        raise StoredObjectMissing(f"{posixpath.basename(key)} is no longer in storage.", field="key") from None
    except Exception as exc:  # botocore's ClientError, imported lazily like everywhere here
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise StoredObjectMissing(f"{posixpath.basename(key)} is no longer in storage.", field="key") from None
        raise


def open_read(key: str) -> BinaryIO:
    with _present(key):
        return _backend().open(key, "rb")


def read(key: str) -> bytes:
    with _present(key), open_read(key) as fh:
        return fh.read()


def read_tail(key: str, max_bytes: int) -> tuple[bytes, bool]:
    """The last ``max_bytes`` of an object, and whether anything before them was cut."""
    total = size(key)
    if is_s3():
        start = max(0, total - max_bytes)
        if total == 0:
            return b"", False
        with _present(key):
            obj = _s3_client().get_object(Bucket=_backend().bucket_name, Key=key, Range=f"bytes={start}-")
        return obj["Body"].read(), start > 0
    with open_read(key) as fh:
        if total > max_bytes:
            fh.seek(total - max_bytes)
        return fh.read(), total > max_bytes


def read_range(key: str, start: int, length: int) -> bytes:
    """Up to ``length`` bytes of an object from byte ``start`` (fewer at its end, none past
    it), without reading the rest: a ranged GET on S3, a seek on local files."""
    if length <= 0:
        return b""
    if is_s3():
        from botocore.exceptions import ClientError

        try:
            with _present(key):
                obj = _s3_client().get_object(
                    Bucket=_backend().bucket_name, Key=key, Range=f"bytes={start}-{start + length - 1}"
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # start is past the end
                return b""
            raise
        return obj["Body"].read()
    with open_read(key) as fh:
        fh.seek(start)
        return fh.read(length)


def exists(key: str) -> bool:
    return _backend().exists(key)


def size(key: str) -> int:
    with _present(key):
        return _backend().size(key)


def modified_at(key: str) -> datetime:
    """When the object at ``key`` was last written (timezone-aware)."""
    when = _backend().get_modified_time(key)
    return when if timezone.is_aware(when) else timezone.make_aware(when)


def download_url(key: str, *, filename: str | None = None) -> str | None:
    """A short-lived presigned GET URL on S3; None on local storage (the server streams)."""
    if not is_s3():
        return None
    params = {"Bucket": _backend().bucket_name, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    return _s3_client().generate_presigned_url("get_object", Params=params, ExpiresIn=3600)


def upload_url(key: str) -> str | None:
    """A presigned PUT URL so clients send bytes straight to S3; None on local storage."""
    if not is_s3():
        return None
    return _s3_client().generate_presigned_url(
        "put_object", Params={"Bucket": _backend().bucket_name, "Key": key}, ExpiresIn=3600
    )


# --- multipart uploads (S3 only) ---------------------------------------------------------------
# A large artifact goes to S3 in parts, each PUT by the client to its own presigned URL,
# then assembled by one complete call; the server never relays the bytes.
def multipart_supported() -> bool:
    return is_s3()


def _refused(exc, what: str) -> InvalidInput:
    error = getattr(exc, "response", {}).get("Error", {})
    detail = f"{error.get('Code', 'error')}: {error.get('Message', exc)}" if error else str(exc)
    return InvalidInput(f"The store refused to {what} ({detail}).", field="parts")


def multipart_start(key: str) -> str:
    """Begin a multipart upload of ``key``; returns its upload id."""
    return _s3_client().create_multipart_upload(Bucket=_backend().bucket_name, Key=key)["UploadId"]


def multipart_part_urls(key: str, upload_id: str, count: int, *, expires_s: int = 24 * 3600) -> list[str]:
    """Presigned PUT URLs for parts 1..count (valid a day: a large upload takes a while)."""
    client, bucket = _s3_client(), _backend().bucket_name
    return [
        client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
            ExpiresIn=expires_s,
        )
        for number in range(1, count + 1)
    ]


def multipart_complete(key: str, upload_id: str, parts: list[tuple[int, str]]) -> int:
    """Assemble the uploaded parts (number, ETag) into ``key``; returns its size."""
    from botocore.exceptions import ClientError

    try:
        _s3_client().complete_multipart_upload(
            Bucket=_backend().bucket_name, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )
    except ClientError as exc:
        raise _refused(exc, "complete the upload") from None
    return size(key)


def multipart_abort(key: str, upload_id: str) -> None:
    """Drop an unfinished upload and its parts (a missing upload is not an error)."""
    from botocore.exceptions import ClientError

    try:
        _s3_client().abort_multipart_upload(Bucket=_backend().bucket_name, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise _refused(exc, "abort the upload") from None


def delete(key: str) -> None:
    _backend().delete(key)


def list_keys(prefix: str) -> Iterator[tuple[str, int]]:
    """Every (key, size) under ``prefix``, recursively."""
    backend = _backend()
    if is_s3():
        paginator = _s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=backend.bucket_name, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["Size"]
        return
    root = backend.path(prefix)
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            yield os.path.relpath(full, backend.location).replace(os.sep, "/"), os.path.getsize(full)


def delete_prefix(prefix: str) -> int:
    keys = [key for key, _ in list_keys(prefix)]
    for key in keys:
        delete(key)
    return len(keys)


def ensure_bucket() -> None:
    """Create the bucket if it is missing (MinIO and moto start empty)."""
    if not is_s3():
        return
    client = _s3_client()
    bucket = _backend().bucket_name
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
