"""Publishing through POST /api/v1/workflows/publish."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from core import storage
from registry.models import Asset, AssetVersion
from tests.factories import assert_error, make_bundle, make_raw_bundle, make_spec, publish

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/publish"


def post_publish(client, spec=None, bundle: bytes | None = None, **fields):
    data = {
        "spec": json.dumps(make_spec() if spec is None else spec),
        "bundle": io.BytesIO(make_bundle() if bundle is None else bundle),
        "visibility": "public",
        **fields,
    }
    data["bundle"].name = "bundle.tar.gz"
    return client.post(URL, data, format="multipart")


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def test_it_publishes_and_reads_the_version_back(client):
    bundle = make_bundle()
    response = post_publish(client, bundle=bundle, version="1.0.0", readme="# Demo\n", changelog="first", tags="ml, demo")
    assert response.status_code == 201, response.content
    body = response.json()
    digest = hashlib.sha256(bundle).hexdigest()
    assert body["asset"] == "alice/demo"
    assert body["version"] == "1.0.0"
    assert body["bundle_digest"] == digest
    assert body["bundle_size"] == len(bundle)
    assert body["published_by"] == "alice"
    assert body["readme"] == "# Demo\n"
    assert [s["name"] for s in body["spec"]["steps"]] == ["a", "b", "c"]

    key = f"bundles/sha256/{digest}.tar.gz"
    assert storage.exists(key)
    assert hashlib.sha256(storage.read(key)).hexdigest() == digest

    detail = client.get("/api/v1/workflows/alice/demo")
    assert detail.status_code == 200
    asset = detail.json()
    assert asset["full_name"] == "alice/demo"
    assert asset["latest_version"] == "1.0.0"
    assert asset["visibility"] == "public"
    assert asset["tags"] == ["ml", "demo"]
    assert [v["version"] for v in asset["versions"]] == ["1.0.0"]

    version = client.get("/api/v1/workflows/alice/demo/versions/1.0.0")
    assert version.status_code == 200
    assert version.json()["spec"]["params"][0]["name"] == "n"
    latest = client.get("/api/v1/workflows/alice/demo/versions/latest")
    assert latest.json()["version"] == "1.0.0"


def test_it_needs_a_bundle_file(client):
    # A JSON body cannot carry a file, so the bundle field is refused with a named field.
    response = client.post(URL, {"spec": make_spec(), "version": "1.0.0"}, format="json")
    assert_error(response, 400, "invalid", "bundle")
    assert not Asset.objects.exists()


def test_it_bumps_the_patch_when_no_version_is_given(client):
    assert post_publish(client, version="1.2.0").status_code == 201
    response = post_publish(client)
    assert response.status_code == 201
    assert response.json()["version"] == "1.2.1"
    assert list(AssetVersion.objects.values_list("version", flat=True)) == ["1.2.1", "1.2.0"]


def test_it_stores_identical_bundles_once(client):
    bundle = make_bundle()
    assert post_publish(client, bundle=bundle, version="1.0.0").status_code == 201
    assert post_publish(client, bundle=bundle, version="1.0.1").status_code == 201
    digests = set(AssetVersion.objects.values_list("bundle_digest", flat=True))
    assert digests == {hashlib.sha256(bundle).hexdigest()}


def test_it_names_the_steps_of_a_cycle(client):
    spec = make_spec(
        steps=[
            {"name": "prep", "fn": "workflow:a", "depends_on": ["evaluate"]},
            {"name": "train", "fn": "workflow:a", "depends_on": ["prep"]},
            {"name": "evaluate", "fn": "workflow:a", "depends_on": ["train"]},
        ]
    )
    error = assert_error(post_publish(client, spec=spec), 400, "invalid")
    assert error["field"] in {"steps.prep.depends_on", "steps.train.depends_on", "steps.evaluate.depends_on"}
    for step in ("prep", "train", "evaluate"):
        assert step in error["message"]
    assert "cycle" in error["message"]
    assert not AssetVersion.objects.exists() and not Asset.objects.exists()


def test_it_names_the_step_with_an_unknown_dependency(client):
    spec = make_spec(steps=[{"name": "a", "fn": "workflow:a"}, {"name": "train", "fn": "workflow:a", "depends_on": ["ghost"]}])
    error = assert_error(post_publish(client, spec=spec), 400, "invalid", "steps.train.depends_on")
    assert "train" in error["message"] and "ghost" in error["message"]
    assert not AssetVersion.objects.exists()


@pytest.mark.parametrize(
    "param",
    [
        {"name": "epochs", "type": "int", "default": "abc"},
        {"name": "epochs", "type": "int", "default": 1.5},
        {"name": "epochs", "type": "float", "default": "0.1"},
        {"name": "epochs", "type": "bool", "default": "yes"},
        {"name": "epochs", "type": "enum", "choices": ["a", "b"], "default": "c"},
        {"name": "epochs", "type": "int", "default": 0, "min": 1},
    ],
)
def test_it_names_a_parameter_whose_default_does_not_fit(client, param):
    spec = make_spec(params=[param], steps=[{"name": "a", "fn": "workflow:a"}])
    error = assert_error(post_publish(client, spec=spec), 400, "invalid", "params.epochs.default")
    assert "epochs" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_refuses_to_republish_the_latest_version_naming_it(client):
    assert post_publish(client, version="1.0.0").status_code == 201
    error = assert_error(post_publish(client, version="1.0.0"), 400, "invalid", "version")
    assert "1.0.0 already exists" in error["message"] and "the latest, 1.0.0" in error["message"]
    assert AssetVersion.objects.count() == 1


def test_it_refuses_an_older_existing_version_naming_the_latest(client):
    assert post_publish(client, version="1.0.0").status_code == 201
    assert post_publish(client, version="1.1.0").status_code == 201
    error = assert_error(post_publish(client, version="1.0.0"), 400, "invalid", "version")
    assert "the latest, 1.1.0" in error["message"]
    assert AssetVersion.objects.count() == 2


def test_it_refuses_a_version_lower_than_the_latest(client):
    assert post_publish(client, version="1.2.0").status_code == 201
    error = assert_error(post_publish(client, version="1.1.9"), 400, "invalid", "version")
    assert "1.2.0" in error["message"]
    assert list(AssetVersion.objects.values_list("version", flat=True)) == ["1.2.0"]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-beta", "latest", "1.0.0.0"])
def test_it_refuses_a_version_that_is_not_semver(client, version):
    error = assert_error(post_publish(client, version=version), 400, "invalid", "version")
    assert version in error["message"]
    assert not AssetVersion.objects.exists() and not Asset.objects.exists()


def test_it_refuses_a_bundle_that_is_not_a_tar_gz(client):
    error = assert_error(post_publish(client, bundle=b"just some bytes"), 400, "invalid", "bundle")
    assert "tar.gz" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_names_a_bundle_entry_with_a_parent_path(client):
    bundle = make_raw_bundle([(tarfile.TarInfo("workflow.py"), b"x = 1\n"), (tarfile.TarInfo("../evil.py"), b"boom\n")])
    error = assert_error(post_publish(client, bundle=bundle), 400, "invalid", "bundle")
    assert "../evil.py" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_names_a_bundle_entry_with_an_absolute_path(client):
    bundle = make_raw_bundle([(tarfile.TarInfo("/etc/cron.d/evil"), b"boom\n")])
    error = assert_error(post_publish(client, bundle=bundle), 400, "invalid", "bundle")
    assert "/etc/cron.d/evil" in error["message"]


def test_it_names_a_bundle_entry_that_is_a_symlink(client):
    link = tarfile.TarInfo("data/passwd")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    bundle = make_raw_bundle([(tarfile.TarInfo("workflow.py"), b"x = 1\n"), link])
    error = assert_error(post_publish(client, bundle=bundle), 400, "invalid", "bundle")
    assert "data/passwd" in error["message"]
    assert not AssetVersion.objects.exists()


def test_it_refuses_a_spec_that_is_not_json(client):
    response = client.post(URL, {"spec": "{not json", "bundle": io.BytesIO(make_bundle())}, format="multipart")
    assert_error(response, 400, "invalid", "spec")


def test_it_refuses_publishing_into_someone_elses_namespace(client, other_user):
    error = assert_error(post_publish(client, namespace="bob"), 403, "forbidden", "namespace")
    assert "bob" in error["message"]
    assert not Asset.objects.exists()


def test_it_refuses_an_unknown_namespace(client):
    assert_error(post_publish(client, namespace="nowhere"), 404, "not_found", "namespace")


def test_it_keeps_earlier_versions_when_a_publish_fails(client, user):
    publish(user, version="1.0.0")
    bad = make_spec(steps=[{"name": "a", "fn": "workflow:a", "depends_on": ["a"]}])
    assert_error(post_publish(client, spec=bad, version="2.0.0"), 400, "invalid", "steps.a.depends_on")
    asset = Asset.objects.get()
    assert asset.latest_version.version == "1.0.0"
    assert list(asset.versions.values_list("version", flat=True)) == ["1.0.0"]


def test_it_updates_latest_on_a_new_version(client, user):
    publish(user, version="1.0.0")
    assert post_publish(client, version="1.1.0", visibility="private").status_code == 201
    asset = Asset.objects.get()
    assert asset.latest_version.version == "1.1.0"
    assert asset.visibility == "private"
