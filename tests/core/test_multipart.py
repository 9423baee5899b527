"""Multipart artifact uploads: straight to the S3 server (moto) through presigned part URLs,
and the fallback to one PUT through the server on local storage. Bytes are read back."""
from __future__ import annotations

import hashlib
import io
import uuid

import httpx
import pytest

import flowdeck
from core import storage
from core.errors import InvalidInput
from flowdeck import client as client_module
from runs.models import Artifact
from runs.services.tracked import run_create_tracked
from tests.factories import assert_error

MiB = 1024 * 1024


def payload(size: int) -> bytes:
    # Not all zeros, so a part sent twice or out of order would show.
    block = hashlib.sha256(b"flowdeck").digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def small_parts(monkeypatch):
    """A 5 MiB + 1 threshold and 5 MiB parts: an 11 MiB file goes as 3 parts (5, 5, 1), and
    moto enforces S3's 5 MiB minimum for every part but the last."""
    monkeypatch.setenv("FLOWDECK_MULTIPART_THRESHOLD", str(5 * MiB + 1))
    monkeypatch.setattr(client_module, "MULTIPART_PART_SIZE", 5 * MiB)


def download(server_url: str, token: str, run_id: int, path: str) -> bytes:
    response = httpx.get(f"{server_url}/api/v1/runs/{run_id}/artifacts/content/{path}",
                         headers={"Authorization": f"Bearer {token}"}, follow_redirects=True, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response.content


# --- core.storage ----------------------------------------------------------------------------
def test_storage_assembles_parts_put_to_presigned_urls(s3_client, s3_store):
    key = f"runs/{uuid.uuid4().hex}/artifacts/big.bin"
    data = payload(11 * MiB)
    upload_id = storage.multipart_start(key)
    urls = storage.multipart_part_urls(key, upload_id, 3)
    parts = []
    for number, url in enumerate(urls, start=1):
        chunk = data[(number - 1) * 5 * MiB:number * 5 * MiB]
        response = httpx.put(url, content=chunk)
        assert response.status_code == 200, response.text
        parts.append((number, response.headers["etag"]))
    assert storage.multipart_complete(key, upload_id, parts) == len(data)
    assert storage.read(key) == data
    assert s3_client.head_object(Bucket=s3_store.bucket, Key=key)["ETag"].endswith('-3"')


def test_storage_refuses_a_part_below_the_minimum(s3_store):
    key = f"runs/{uuid.uuid4().hex}/artifacts/small.bin"
    upload_id = storage.multipart_start(key)
    urls = storage.multipart_part_urls(key, upload_id, 2)
    etags = [httpx.put(url, content=b"x" * 1024).headers["etag"] for url in urls]
    with pytest.raises(InvalidInput, match="EntityTooSmall"):
        storage.multipart_complete(key, upload_id, list(enumerate(etags, start=1)))
    storage.multipart_abort(key, upload_id)
    storage.multipart_abort(key, upload_id)  # aborting twice is fine
    assert not storage.exists(key)


# --- the SDK against a live server -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_sdk_uploads_a_large_file_in_parts_and_reads_it_back(live_server, user, small_parts, tmp_path, s3_client, s3_store,
                                                                  monkeypatch):
    from tests.factories import make_token

    token = make_token(user)
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", token)
    data = payload(11 * MiB)
    (tmp_path / "model.bin").write_bytes(data)
    (tmp_path / "small.txt").write_text("not multipart")

    with flowdeck.start_run(experiment="big-files") as run:
        flowdeck.log_artifact(tmp_path / "model.bin", name="weights/model.bin")
        flowdeck.log_artifact(tmp_path / "small.txt")

    assert download(live_server.url, token, run.id, "weights/model.bin") == data
    assert download(live_server.url, token, run.id, "small.txt") == b"not multipart"
    assert dict(Artifact.objects.filter(run_id=run.id).values_list("path", "size")) == {
        "weights/model.bin": len(data), "small.txt": 13}
    key = storage.artifact_key(run.id, "weights/model.bin")
    assert s3_client.head_object(Bucket=s3_store.bucket, Key=key)["ETag"].endswith('-3"')  # three parts
    uploads = s3_client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == key] == []  # completed, none left open


@pytest.mark.django_db(transaction=True)
def test_on_local_storage_the_sdk_falls_back_to_one_put_through_the_server(live_server, user, small_parts, tmp_path,
                                                                           local_storage, monkeypatch):
    from tests.factories import make_token

    token = make_token(user)
    run = run_create_tracked(user=user, experiment="big-files")
    data = payload(11 * MiB)
    (tmp_path / "model.bin").write_bytes(data)
    with flowdeck.Client(live_server.url, token) as client:
        response = client._http.post(f"/api/v1/runs/{run.pk}/artifacts/multipart", json={"path": "model.bin", "size": len(data)})
        assert_error(response, 409, "multipart_unsupported")
        artifact = client.artifact_upload(run.pk, tmp_path / "model.bin", "model.bin")
    assert artifact["size"] == len(data)
    assert (local_storage / "runs" / str(run.pk) / "artifacts" / "model.bin").read_bytes() == data
    assert download(live_server.url, token, run.pk, "model.bin") == data


@pytest.mark.django_db(transaction=True)
def test_a_failed_part_aborts_the_upload(live_server, user, small_parts, tmp_path, s3_client, s3_store, monkeypatch):
    from tests.factories import make_token

    token = make_token(user)
    run = run_create_tracked(user=user, experiment="big-files")
    (tmp_path / "model.bin").write_bytes(payload(11 * MiB))
    monkeypatch.setattr(client_module, "RETRIES", 1)
    real_put = httpx.put

    def put(url, **kwargs):
        if "partNumber=2" in url:
            return httpx.Response(403, text="AccessDenied")
        return real_put(url, **kwargs)

    monkeypatch.setattr(client_module.httpx, "put", put)
    with flowdeck.Client(live_server.url, token) as client:
        with pytest.raises(flowdeck.APIError, match="upload_failed|failed"):
            client.artifact_upload(run.pk, tmp_path / "model.bin", "model.bin")
    key = storage.artifact_key(run.pk, "model.bin")
    uploads = s3_client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", [])
    assert [u for u in uploads if u["Key"] == key] == []  # aborted
    assert not storage.exists(key)
    assert not Artifact.objects.filter(run=run).exists()


# --- the API -------------------------------------------------------------------------------------
@pytest.fixture
def api(user, auth_client):
    return auth_client(user)


@pytest.fixture
def tracked_run(user):
    return run_create_tracked(user=user, experiment="big-files")


@pytest.mark.django_db
def test_the_api_plans_parts_within_s3_limits(api, tracked_run):
    url = f"/api/v1/runs/{tracked_run.pk}/artifacts/multipart"
    plan = api.post(url, {"path": "a/b.bin", "size": 11 * MiB, "part_size": 1}, format="json").json()
    assert plan["part_size"] == 5 * MiB  # raised to S3's minimum
    assert [p["number"] for p in plan["parts"]] == [1, 2, 3]
    assert plan["path"] == "a/b.bin" and plan["upload_id"]
    assert all("partNumber=" in p["url"] and plan["upload_id"] in p["url"] for p in plan["parts"])

    default = api.post(url, {"path": "c.bin", "size": 100 * MiB}, format="json").json()
    assert (default["part_size"], len(default["parts"])) == (16 * MiB, 7)

    huge = api.post(url, {"path": "d.bin", "size": 500 * 1024 * MiB, "part_size": 5 * MiB}, format="json")
    assert huge.status_code == 201
    assert len(huge.json()["parts"]) <= 10_000  # parts grow so their number stays within S3's limit


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "a.bin"}, "size"),
        ({"path": "a.bin", "size": 0}, "size"),
        ({"path": "../escape.bin", "size": 10}, "path"),
        ({"size": 10}, "path"),
    ],
)
def test_the_api_refuses_bad_plans(api, tracked_run, body, field):
    assert_error(api.post(f"/api/v1/runs/{tracked_run.pk}/artifacts/multipart", body, format="json"), 400, "invalid", field)


@pytest.mark.django_db
def test_the_api_refuses_bad_part_lists_and_aborts(api, tracked_run):
    base = f"/api/v1/runs/{tracked_run.pk}/artifacts/multipart"
    plan = api.post(base, {"path": "x.bin", "size": 6 * MiB, "part_size": 5 * MiB}, format="json").json()
    complete = {"path": "x.bin", "upload_id": plan["upload_id"]}
    assert_error(api.post(f"{base}/complete", {**complete, "parts": []}, format="json"), 400, "invalid", "parts")
    assert_error(api.post(f"{base}/complete", {**complete, "parts": [{"number": 2, "etag": "e"}]}, format="json"),
                 400, "invalid", "parts")
    assert_error(api.post(f"{base}/complete", {**complete, "parts": [{"number": 1, "etag": "e"}, {"number": 1, "etag": "e"}]},
                          format="json"), 400, "invalid", "parts")
    # Parts that were never uploaded: the store refuses, the error says so.
    assert_error(api.post(f"{base}/complete", {**complete, "parts": [{"number": 1, "etag": '"nope"'}, {"number": 2, "etag": '"nope"'}]},
                          format="json"), 400, "invalid", "parts")
    assert api.post(f"{base}/abort", complete, format="json").status_code == 204
    assert not Artifact.objects.filter(run=tracked_run).exists()


@pytest.mark.django_db
def test_a_run_token_may_upload_to_its_own_run_only(user, auth_client, tracked_run):
    from accounts.services import token_create_for_run

    _token, plaintext = token_create_for_run(user=user, run_id=tracked_run.pk)
    client = auth_client(user, token=plaintext)
    ok = client.post(f"/api/v1/runs/{tracked_run.pk}/artifacts/multipart", {"path": "a.bin", "size": 10}, format="json")
    assert ok.status_code == 201, ok.content
    other = run_create_tracked(user=user, experiment="other")
    assert_error(client.post(f"/api/v1/runs/{other.pk}/artifacts/multipart", {"path": "a.bin", "size": 10}, format="json"), 404)


@pytest.mark.django_db
def test_other_users_may_not_upload(other_user, auth_client, tracked_run):
    response = auth_client(other_user).post(f"/api/v1/runs/{tracked_run.pk}/artifacts/multipart",
                                            {"path": "a.bin", "size": 10}, format="json")
    assert_error(response, 404, "not_found")


# --- the progress bar ------------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_only_on_a_terminal_for_large_files(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert client_module._Progress.maybe("big.bin", 100 * MiB) is None  # not a terminal
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    assert client_module._Progress.maybe("small.bin", 1024) is None  # too small to bother
    progress = client_module._Progress.maybe("big.bin", 10 * MiB)
    progress.add(5 * MiB)
    progress.add(5 * MiB)
    progress.done()
    out = tty.getvalue()
    assert "\r" in out and "big.bin" in out and "100%" in out and "10.0/10.0 MiB" in out
    assert out.endswith("\n")


def test_the_threshold_comes_from_the_environment(monkeypatch):
    assert client_module.multipart_threshold() == 64 * MiB
    monkeypatch.setenv("FLOWDECK_MULTIPART_THRESHOLD", "1234")
    assert client_module.multipart_threshold() == 1234

