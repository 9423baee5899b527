"""core.storage.read_range: a slice of a stored object, on local files and on the S3 server."""
from __future__ import annotations

import uuid

import pytest

from core import storage


@pytest.fixture(params=["local", "s3"])
def backend(request) -> str:
    if request.param == "local":
        request.getfixturevalue("local_storage")
    return request.param


def test_it_reads_a_slice_clipped_at_the_end_and_nothing_past_it(backend):
    key = f"runs/{uuid.uuid4().hex}/steps/a/1/log.txt"
    body = bytes(range(256)) * 40
    storage.put(key, body)
    assert storage.read_range(key, 0, 10) == body[:10]
    assert storage.read_range(key, 1000, 500) == body[1000:1500]
    assert storage.read_range(key, len(body) - 3, 100) == body[-3:]
    assert storage.read_range(key, len(body), 100) == b""
    assert storage.read_range(key, len(body) + 50, 100) == b""
    assert storage.read_range(key, 5, 0) == b""
