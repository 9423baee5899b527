"""core.storage: one test body, run against local files and against the S3 server."""
from __future__ import annotations

import uuid

import httpx
import pytest

from core import storage
from core.errors import InvalidInput


@pytest.fixture(params=["local", "s3"])
def backend(request) -> str:
    """Each test that uses this runs twice: local files in a tmp dir, then the S3 server."""
    if request.param == "local":
        request.getfixturevalue("local_storage")
    return request.param


def test_it_round_trips_bytes_on_every_backend(backend):
    prefix = f"runs/{uuid.uuid4().hex}/"
    key = prefix + "steps/train/1/log.txt"
    body = b"".join(f"line {i}\n".encode() for i in range(1000))

    assert storage.is_s3() is (backend == "s3")
    assert not storage.exists(key)
    assert storage.put(key, body) == len(body)
    assert storage.exists(key)
    assert storage.size(key) == len(body)
    assert storage.read(key) == body

    tail, cut = storage.read_tail(key, 20)
    assert tail == body[-20:] and cut is True
    whole, cut = storage.read_tail(key, len(body) + 10)
    assert whole == body and cut is False

    # Overwriting replaces the object: keys are addresses, never renamed.
    assert storage.put(key, b"short") == 5
    assert storage.read(key) == b"short"

    other = prefix + "artifacts/model/w.bin"
    storage.put(other, b"\x00\x01\x02")
    assert sorted(storage.list_keys(prefix)) == [(other, 3), (key, 5)]
    assert list(storage.list_keys(f"runs/{uuid.uuid4().hex}/")) == []

    url = storage.download_url(other, filename="w.bin")
    if backend == "local":
        assert url is None
    else:
        assert url.startswith("http")
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.content == b"\x00\x01\x02"

    assert storage.delete_prefix(prefix) == 2
    assert not storage.exists(key) and not storage.exists(other)
    assert list(storage.list_keys(prefix)) == []


def test_it_accepts_presigned_uploads_on_s3_only(backend):
    key = storage.artifact_key(1, f"{uuid.uuid4().hex}/data.csv")
    url = storage.upload_url(key)
    if backend == "local":
        assert url is None
        return
    response = httpx.put(url, content=b"a,b\n1,2\n")
    assert response.status_code == 200, response.text
    assert storage.read(key) == b"a,b\n1,2\n"
    assert storage.size(key) == 8


def test_it_reads_an_empty_object_tail(backend):
    key = f"runs/{uuid.uuid4().hex}/empty.txt"
    storage.put(key, b"")
    assert storage.read_tail(key, 100) == (b"", False)


def test_it_accepts_file_objects(backend, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 100_000)
    key = f"runs/{uuid.uuid4().hex}/big.bin"
    with open(path, "rb") as fh:
        assert storage.put(key, fh) == 100_000
    with storage.open_read(key) as fh:
        assert fh.read() == b"x" * 100_000


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs/path", "a/../../b", "..", ".", "", "a\\b", "a\x00b"])
def test_it_refuses_paths_that_escape(bad):
    with pytest.raises(InvalidInput) as exc:
        storage.artifact_key(1, bad)
    assert exc.value.field == "path"


def test_it_normalises_relative_paths():
    assert storage.artifact_key(7, "./model//w.bin") == "runs/7/artifacts/model/w.bin"
    assert storage.step_key(7, "train", 2, "outputs/x.pkl") == "runs/7/steps/train/2/outputs/x.pkl"
    assert storage.bundle_key("ab" * 32) == f"bundles/sha256/{'ab' * 32}.tar.gz"
