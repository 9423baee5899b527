"""Artifacts: presigned uploads straight to S3, uploads through the server, and downloads."""
from __future__ import annotations

import httpx
import pytest

from accounts.services import token_create_for_run
from core import storage
from runs.models import Artifact
from runs.services.lifecycle import run_start
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db

PAYLOAD = bytes(range(256)) * 64


@pytest.fixture
def run(user):
    return run_start(user=user, version=publish(user))


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def base(run) -> str:
    return f"/api/v1/runs/{run.pk}/artifacts"


def test_it_round_trips_an_artifact_through_a_presigned_url(client, run):
    target = client.post(f"{base(run)}/uploads", {"path": "model/weights.bin"}, format="json")
    assert target.status_code == 200, target.content
    assert target.json()["path"] == "model/weights.bin"
    url = target.json()["url"]
    assert url.startswith("http")

    assert httpx.put(url, content=PAYLOAD).status_code == 200
    committed = client.post(f"{base(run)}/commit", {"path": "model/weights.bin"}, format="json")
    assert committed.status_code == 201, committed.content
    assert committed.json()["path"] == "model/weights.bin"
    assert committed.json()["size"] == len(PAYLOAD)
    assert storage.read(f"runs/{run.pk}/artifacts/model/weights.bin") == PAYLOAD

    listed = client.get(base(run)).json()
    assert [(a["path"], a["size"]) for a in listed] == [("model/weights.bin", len(PAYLOAD))]
    assert [a["path"] for a in client.get(f"/api/v1/runs/{run.pk}").json()["artifacts"]] == ["model/weights.bin"]

    download = client.get(f"{base(run)}/content/model/weights.bin")
    assert download.status_code == 302
    fetched = httpx.get(download["Location"])
    assert fetched.status_code == 200
    assert fetched.content == PAYLOAD
    assert 'filename="weights.bin"' in fetched.headers.get("content-disposition", "")


def test_it_refuses_to_commit_what_was_not_uploaded(client, run):
    assert_error(client.post(f"{base(run)}/commit", {"path": "ghost.txt"}, format="json"), 404, "not_found", "path")
    assert not Artifact.objects.exists()


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../b", "/etc/passwd", ".."])
def test_it_refuses_paths_that_escape_the_run(client, run, path):
    assert_error(client.post(f"{base(run)}/uploads", {"path": path}, format="json"), 400, "invalid", "path")
    assert_error(client.post(f"{base(run)}/commit", {"path": path}, format="json"), 400, "invalid", "path")
    assert not Artifact.objects.exists()


def test_it_refuses_a_download_path_that_escapes(client, run):
    assert_error(client.get(f"{base(run)}/content/../secret"), 400, "invalid", "path")


def test_it_answers_404_for_a_missing_artifact(client, run):
    assert_error(client.get(f"{base(run)}/content/nothing.bin"), 404, "not_found", "path")


def test_it_accepts_uploads_through_the_server(client, run):
    response = client.put(
        f"{base(run)}/content/data/table.csv",
        data=b"a,b\n1,2\n",
        content_type="text/csv",
        HTTP_CONTENT_DISPOSITION='attachment; filename="table.csv"',
    )
    assert response.status_code == 201, response.content
    assert response.json()["size"] == 8
    assert storage.read(f"runs/{run.pk}/artifacts/data/table.csv") == b"a,b\n1,2\n"


def test_it_accepts_raw_uploads_without_a_filename_header(client, run):
    response = client.put(f"{base(run)}/content/notes.txt", data=b"hello", content_type="application/octet-stream")
    assert response.status_code == 201, response.content
    assert storage.read(f"runs/{run.pk}/artifacts/notes.txt") == b"hello"


def test_it_streams_artifacts_from_local_storage(client, run, local_storage):
    target = client.post(f"{base(run)}/uploads", {"path": "out/result.json"}, format="json").json()
    assert target == {"path": "out/result.json", "url": None}  # local: PUT through the server
    put = client.put(f"{base(run)}/content/out/result.json", data=b'{"ok": true}', content_type="application/json")
    assert put.status_code == 201, put.content
    assert (local_storage / f"runs/{run.pk}/artifacts/out/result.json").read_bytes() == b'{"ok": true}'
    download = client.get(f"{base(run)}/content/out/result.json")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b'{"ok": true}'
    assert 'filename="result.json"' in download["Content-Disposition"]


def test_a_run_token_uploads_to_its_own_run_only(api_client, user, run):
    other = run_start(user=user, version=run.asset_version)
    _token, plaintext = token_create_for_run(user=user, run_id=run.pk)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    target = api_client.post(f"{base(run)}/uploads", {"path": "x.bin"}, format="json")
    assert target.status_code == 200
    assert httpx.put(target.json()["url"], content=b"xyz").status_code == 200
    assert api_client.post(f"{base(run)}/commit", {"path": "x.bin"}, format="json").status_code == 201
    assert api_client.get(f"{base(run)}/content/x.bin").status_code == 302
    assert_error(api_client.post(f"{base(other)}/uploads", {"path": "x.bin"}, format="json"), 404, "not_found")
    assert_error(api_client.get(f"{base(other)}/content/x.bin"), 404, "not_found")


def test_others_may_not_read_or_write_my_artifacts(client, other_user, auth_client, run):
    storage.put(f"runs/{run.pk}/artifacts/x.bin", b"x")
    client.post(f"{base(run)}/commit", {"path": "x.bin"}, format="json")
    bob = auth_client(other_user)
    assert_error(bob.get(f"{base(run)}/content/x.bin"), 404, "not_found")
    assert_error(bob.post(f"{base(run)}/uploads", {"path": "y.bin"}, format="json"), 404, "not_found")
    assert_error(bob.get(base(run)), 404, "not_found")
