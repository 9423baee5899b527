"""Artifacts side by side: images shown next to each other, text and JSON diffed, CSV as
tables, on both storage backends (the session's S3 server, and local files)."""
from __future__ import annotations

import json

import pytest

from compare.artifacts import MAX_TEXT_BYTES
from tests.compare.tracked import track
from tests.factories import assert_error

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture(params=["s3", "local"])
def backend(request):
    if request.param == "local":
        request.getfixturevalue("local_storage")
    return request.param


@pytest.fixture
def pair(client, backend):
    a = track(client, "a", params={"lr": 0.1}, artifacts={
        "plots/roc.png": PNG, "config.json": json.dumps({"lr": 0.1, "layers": [64, 64]}).encode(),
        "eval.csv": b"class,precision\ncat,0.9\ndog,0.8\n", "notes.txt": b"one\ntwo\nthree\n", "model.bin": b"\0\1"})
    b = track(client, "b", params={"lr": 0.2}, artifacts={
        "plots/roc.png": PNG, "config.json": json.dumps({"layers": [64, 128], "lr": 0.2}).encode(),
        "eval.csv": b"class,precision\ncat,0.95\ndog,0.7\n", "notes.txt": b"one\ntwo\nthree\n"})
    return a, b


def side(client, runs, path):
    response = client.get("/api/v1/compare/artifact", {"runs": ",".join(map(str, runs)), "path": path})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_compare_data_lists_each_path_with_each_runs_size(client, pair):
    a, b = pair
    body = json.loads(client.get("/api/v1/compare", {"runs": f"{a},{b}"}).content)
    table = {row["path"]: row for row in body["artifacts"]}
    assert table["plots/roc.png"] == {"path": "plots/roc.png", "kind": "image", "sizes": [len(PNG), len(PNG)]}
    assert table["model.bin"]["kind"] == "binary" and table["model.bin"]["sizes"] == [2, None]


def test_images_are_shown_next_to_each_other(client, pair):
    a, b = pair
    body = side(client, pair, "plots/roc.png")
    assert body["kind"] == "image"
    assert [(i["run"], i["present"], i["shown"]) for i in body["items"]] == [(a, True, True), (b, True, True)]
    # The link serves the image's bytes (directly, or through a presigned URL on S3).
    response = client.get(body["items"][1]["url"].replace("/runs/", "/api/v1/runs/").replace(
        "/artifacts/", "/artifacts/content/"), follow=False)
    assert response.status_code in (200, 302)


def test_json_is_normalised_then_diffed_against_the_first_run(client, pair):
    first, second = side(client, pair, "config.json")["items"]
    assert json.loads(first["text"]) == {"lr": 0.1, "layers": [64, 64]} and first["diff"] is None
    # Key order does not count as a difference once normalised; the values do.
    assert not any(line.lstrip("+-").startswith('  "layers"') and line[0] in "+-" for line in second["diff"][2:])
    assert '-  "lr": 0.1' in second["diff"] and '+  "lr": 0.2' in second["diff"]
    assert any(line.startswith("+    128") for line in second["diff"])


def test_csv_comes_as_rows_and_identical_text_as_an_empty_diff(client, pair):
    first, second = side(client, pair, "eval.csv")["items"]
    assert first["rows"] == [["class", "precision"], ["cat", "0.9"], ["dog", "0.8"]]
    assert second["rows"][1] == ["cat", "0.95"]
    notes = side(client, pair, "notes.txt")["items"]
    assert notes[0]["text"] == "one\ntwo\nthree\n" and notes[1]["diff"] == []


def test_a_missing_artifact_and_a_binary_one_say_so(client, pair):
    a, b = pair
    body = side(client, pair, "model.bin")
    assert body["kind"] == "binary"
    assert body["items"][0]["present"] is True and "text" not in body["items"][0]
    assert body["items"][1] == {"run": b, "present": False}


def test_only_the_first_256_kib_of_a_large_text_file_is_read(client, backend):
    big = b"x" * (MAX_TEXT_BYTES + 1000)
    a = track(client, "a", params={}, artifacts={"log.txt": big})
    b = track(client, "b", params={}, artifacts={"log.txt": b"short"})
    first, second = side(client, [a, b], "log.txt")["items"]
    assert first["truncated"] is True and len(first["text"]) == MAX_TEXT_BYTES
    assert second["truncated"] is False


def test_another_users_artifacts_are_not_read(client, pair, other_user, auth_client):
    a, b = pair
    bob = auth_client(other_user)
    secret = track(bob, "secret", params={}, artifacts={"config.json": b'{"password": "hunter2"}'})
    body = side(client, [a, secret, b], "config.json")
    assert [i["run"] for i in body["items"]] == [a, b] and "hunter2" not in json.dumps(body)


def test_fewer_than_two_visible_runs_is_a_400_as_for_runs_that_do_not_exist(client, pair, other_user, auth_client):
    a, _b = pair
    secret = track(auth_client(other_user), "secret", params={}, artifacts={"config.json": b"{}"})
    hidden = client.get("/api/v1/compare/artifact", {"runs": f"{a},{secret}", "path": "config.json"})
    missing = client.get("/api/v1/compare/artifact", {"runs": f"{a},987654", "path": "config.json"})
    assert_error(hidden, 400, "invalid", "runs")
    assert hidden.content == missing.content


@pytest.mark.parametrize("params,field", [({"runs": "1,2"}, "path"), ({"path": "x"}, "runs"),
                                          ({"runs": "1,2", "path": "../etc/passwd"}, "path"),
                                          ({"runs": "1,2", "path": "x", "at": "best"}, "at")])
def test_bad_requests_name_the_field(client, params, field):
    assert_error(client.get("/api/v1/compare/artifact", params), 400, "invalid", field)
