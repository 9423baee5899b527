"""Issue 4's bad-input rows not covered by test_api_publish: size limits and links out of the tree."""
from __future__ import annotations

import io
import json
import tarfile

import pytest
from django.test import override_settings

from registry.models import Asset, AssetVersion
from tests.factories import assert_error, make_bundle, make_raw_bundle, make_spec

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/publish"


def post_publish(client, bundle: bytes, **fields):
    data = {"spec": json.dumps(make_spec()), "bundle": io.BytesIO(bundle), "visibility": "public", **fields}
    data["bundle"].name = "bundle.tar.gz"
    return client.post(URL, data, format="multipart")


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def test_it_refuses_a_readme_over_the_limit_and_accepts_one_at_it(client):
    with override_settings(FLOWDECK_MAX_README_BYTES=1000):
        error = assert_error(post_publish(client, make_bundle(), readme="é" * 501), 400, "invalid", "readme")
        assert "1000 bytes" in error["message"]  # counted in bytes: 501 "é" are 1002
        assert not Asset.objects.exists()
        assert post_publish(client, make_bundle(), readme="x" * 1000, version="1.0.0").status_code == 201


def test_it_names_the_entry_that_takes_the_bundle_over_the_unpacked_limit(client):
    # 10x FLOWDECK_MAX_BUNDLE_BYTES may be unpacked: 30,000 bytes here. Zeros compress to
    # almost nothing, which is exactly the bomb the limit is there for.
    bundle = make_bundle({"workflow.py": "x = 1\n", "data/a.bin": b"\0" * 20_000, "data/b.bin": b"\0" * 20_000})
    with override_settings(FLOWDECK_MAX_BUNDLE_BYTES=3_000):
        assert len(bundle) < 3_000
        error = assert_error(post_publish(client, bundle), 400, "invalid", "bundle")
    assert "data/b.bin" in error["message"] and "30000" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_refuses_a_bundle_over_the_packed_limit(client):
    with override_settings(FLOWDECK_MAX_BUNDLE_BYTES=100):
        error = assert_error(post_publish(client, make_bundle()), 413)
    assert "limit is 100" in error["message"] and error["field"] == "bundle"


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "workflow.py"])
def test_it_names_a_symlink_whether_or_not_it_leaves_the_tree(client, target):
    link = tarfile.TarInfo("data/link")
    link.type = tarfile.SYMTYPE
    link.linkname = target
    bundle = make_raw_bundle([(tarfile.TarInfo("workflow.py"), b"x = 1\n"), link])
    error = assert_error(post_publish(client, bundle), 400, "invalid", "bundle")
    assert "data/link" in error["message"] and "link" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_names_a_hard_link(client):
    link = tarfile.TarInfo("data/hard")
    link.type = tarfile.LNKTYPE
    link.linkname = "../outside"
    bundle = make_raw_bundle([(tarfile.TarInfo("workflow.py"), b"x = 1\n"), link])
    error = assert_error(post_publish(client, bundle), 400, "invalid", "bundle")
    assert "data/hard" in error["message"]


def test_it_names_a_truncated_tar_gz(client):
    error = assert_error(post_publish(client, make_bundle()[:40]), 400, "invalid", "bundle")
    assert "not a valid tar.gz" in error["message"]
