"""What changed between two published versions: params, steps and code files."""
from __future__ import annotations

import copy

import pytest

from tests.factories import DEFAULT_SPEC, WORKFLOW_SOURCE, assert_error, make_spec, publish

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/alice/demo/diff"


@pytest.fixture
def two_versions(user):
    old = publish(user, version="1.0.0", files={"workflow.py": WORKFLOW_SOURCE, "data.bin": b"\x00\x01"})
    params = copy.deepcopy(DEFAULT_SPEC["params"])
    params[0]["default"] = 5
    steps = copy.deepcopy(DEFAULT_SPEC["steps"]) + [
        {"name": "d", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}},
    ]
    new_source = WORKFLOW_SOURCE.replace('print(f"y={y}")', 'print(f"result: {y}")')
    new = publish(user, version="1.1.0", spec=make_spec(params=params, steps=steps),
                  files={"workflow.py": new_source, "data.bin": b"\x00\x01"})
    return old, new


def test_it_shows_exactly_the_changed_default_the_added_step_and_the_changed_file(user, auth_client, two_versions):
    response = auth_client(user).get(URL, {"from": "1.0.0", "to": "1.1.0"})
    assert response.status_code == 200, response.content
    diff = response.json()
    assert (diff["asset"], diff["from"], diff["to"]) == ("alice/demo", "1.0.0", "1.1.0")
    assert diff["params"] == {"added": [], "removed": [], "changed": [
        {"name": "n", "changes": {"default": {"old": 3, "new": 5}}},
    ]}
    assert diff["steps"] == {"added": ["d"], "removed": [], "changed": []}
    files = diff["files"]
    assert (files["added"], files["removed"]) == ([], [])
    assert [f["path"] for f in files["changed"]] == ["workflow.py"]
    text = files["changed"][0]["diff"]
    assert text.startswith("--- 1.0.0/workflow.py\n+++ 1.1.0/workflow.py\n")
    assert '-    print(f"y={y}")\n' in text and '+    print(f"result: {y}")\n' in text


def test_it_defaults_to_the_latest_and_the_one_before(user, api_client, two_versions):
    diff = api_client.get(URL).json()  # public: readable anonymously
    assert (diff["from"], diff["to"]) == ("1.0.0", "1.1.0")


def test_it_lists_added_removed_and_binary_files(user, auth_client):
    publish(user, version="1.0.0", files={"workflow.py": WORKFLOW_SOURCE, "old.txt": "a", "blob.bin": b"\x00a"})
    publish(user, version="1.0.1", files={"workflow.py": WORKFLOW_SOURCE, "new.txt": "b", "blob.bin": b"\x00b"})
    files = auth_client(user).get(URL, {"from": "1.0.0", "to": "1.0.1"}).json()["files"]
    assert files["added"] == ["new.txt"] and files["removed"] == ["old.txt"]
    assert [(f["path"], f["diff"]) for f in files["changed"]] == [("blob.bin", None)]


def test_it_is_empty_for_the_same_bundle_and_spec(user, auth_client):
    publish(user, version="1.0.0")
    publish(user, version="1.0.1")
    diff = auth_client(user).get(URL, {"from": "1.0.0", "to": "1.0.1"}).json()
    empty = {"added": [], "removed": [], "changed": []}
    assert diff["params"] == diff["steps"] == diff["files"] == empty


def test_it_refuses_a_first_version_and_an_unknown_one(user, auth_client):
    publish(user, version="1.0.0")
    assert_error(auth_client(user).get(URL), 400, "invalid", "from")
    assert_error(auth_client(user).get(URL, {"from": "0.1.0", "to": "1.0.0"}), 404, "not_found")


def test_it_hides_a_private_workflow(user, other_user, auth_client):
    publish(user, version="1.0.0", visibility="private")
    publish(user, version="1.0.1", visibility="private")
    assert_error(auth_client(other_user).get(URL), 404, "not_found")


def test_the_web_page_shows_the_diff_and_the_versions_list_links_to_it(user, client, two_versions):
    page = client.get("/w/alice/demo/")
    assert "/w/alice/demo/diff?from=1.0.0&amp;to=1.1.0" in page.content.decode()
    page = client.get("/w/alice/demo/diff", {"from": "1.0.0", "to": "1.1.0"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "+++ 1.1.0/workflow.py" in html and "result: {y}" in html
    assert ">d</td>" in html and "added" in html
