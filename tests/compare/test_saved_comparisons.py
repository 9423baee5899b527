"""Saved comparisons: a short link another member opens, showing only the runs they may see."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.services import membership_set, team_create
from compare.models import SavedComparison
from tests.factories import assert_error, make_user
from tests.compare.tracked import track

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(user, other_user):
    """Team ``lab``: alice (admin) and bob (viewer)."""
    lab = team_create(slug="lab", owner=user)
    membership_set(team=lab, user=other_user, role="viewer")
    return lab


@pytest.fixture
def mixed(client, team):
    """Two runs in lab (bob sees them) and one in alice's own namespace (bob does not)."""
    def tracked(name, lr, namespace=None):
        body = {"experiment": "sweep", "name": name}
        if namespace:
            body["namespace"] = namespace
        run_id = client.post("/api/v1/experiments/runs", body, format="json").json()["id"]
        client.post(f"/api/v1/runs/{run_id}/log-batch", {"params": {"lr": lr},
                    "metrics": {"loss": {"step": [0, 1], "value": [1.0, lr]}}}, format="json")
        client.post(f"/api/v1/runs/{run_id}/end", {"status": "succeeded"}, format="json")
        return run_id

    return {"lab1": tracked("lab-one", 0.1, "lab"), "lab2": tracked("lab-two", 0.2, "lab"),
            "private": tracked("alices-private-run", 0.3)}


def scalars(value) -> list:
    """Every number and text in a JSON document, keys included."""
    if isinstance(value, dict):
        return [*value, *(x for v in value.values() for x in scalars(v))]
    if isinstance(value, list):
        return [x for v in value for x in scalars(v)]
    return [value]


def save(client, **body):
    return client.post("/api/v1/comparisons", body, format="json")


def test_it_saves_a_view_with_a_short_slug_and_opens_it(client, mixed, team):
    ids = [mixed["lab1"], mixed["lab2"], mixed["private"]]
    response = save(client, runs=ids, title="lr sweep", namespace="lab",
                    options={"keys": ["loss"], "at": "step", "step": 1, "x": "relative", "smoothing": 0.6, "log": True})
    assert response.status_code == 201, response.content
    saved = response.json()
    assert len(saved["slug"]) == 8 and saved["url"] == f"/c/{saved['slug']}"
    assert saved["runs"] == ids and saved["namespace"] == "lab" and saved["visibility"] == "team"
    assert saved["options"] == {"keys": ["loss"], "at": "step", "step": 1, "x": "relative", "smoothing": 0.6, "log": True}
    opened = client.get(f"/api/v1/comparisons/{saved['slug']}").json()
    assert opened["runs"] == ids and opened["title"] == "lr sweep"
    # Its compare query gives the view's data, options included.
    data = json.loads(client.get(opened["compare"]).content)
    assert [r["id"] for r in data["runs"]] == ids
    assert data["options"]["x"] == "relative" and data["metrics"]["table"][0]["at_step"] == [0.1, 0.2, 0.3]
    assert [c["slug"] for c in client.get("/api/v1/comparisons").json()["results"]] == [saved["slug"]]


def test_a_member_opening_it_sees_only_the_runs_they_may_see(client, mixed, team, other_user, auth_client):
    slug = save(client, runs=[mixed["lab1"], mixed["private"], mixed["lab2"]], namespace="lab").json()["slug"]
    bob = auth_client(other_user)
    opened = bob.get(f"/api/v1/comparisons/{slug}")
    assert opened.status_code == 200
    assert opened.json()["runs"] == [mixed["lab1"], mixed["lab2"]]
    text = bob.get(opened.json()["compare"]).content.decode()
    assert "alices-private-run" not in text
    assert [r["id"] for r in json.loads(text)["runs"]] == [mixed["lab1"], mixed["lab2"]]
    # Nor its lr, 0.3, anywhere (as a value: a moment or a duration may have "0.3" in its digits).
    assert 0.3 not in scalars(json.loads(text)) and "0.3" not in scalars(json.loads(text))
    # The page too: the hidden run is absent, and nothing says how many were left out.
    bob_web = Client()
    bob_web.force_login(other_user)
    html = bob_web.get(f"/c/{slug}").content.decode()
    assert "lab-one" in html and "lab-two" in html and "alices-private-run" not in html
    assert "3 runs" not in html and "Compare 2 runs" in html


def test_a_view_with_fewer_than_two_visible_runs_opens_saying_so(client, mixed, team, other_user, auth_client):
    slug = save(client, runs=[mixed["lab1"], mixed["private"]], namespace="lab").json()["slug"]
    bob = auth_client(other_user)
    body = bob.get(f"/api/v1/comparisons/{slug}").json()
    assert body["runs"] == [mixed["lab1"]] and body["compare"] is None
    web = Client()
    web.force_login(other_user)
    html = web.get(f"/c/{slug}").content.decode()
    assert "fewer than two runs you can see" in html and "alices-private-run" not in html


def test_private_views_and_other_teams_views_are_not_found(client, mixed, team, other_user, auth_client):
    private = save(client, runs=[mixed["lab1"], mixed["lab2"]], namespace="lab", visibility="private").json()["slug"]
    mine = save(client, runs=[mixed["lab1"], mixed["lab2"]]).json()["slug"]  # alice's own namespace
    bob = auth_client(other_user)
    for slug in (private, mine, "nosuchvw"):
        assert_error(bob.get(f"/api/v1/comparisons/{slug}"), 404, "not_found")
    assert bob.get("/api/v1/comparisons").json()["results"] == []
    stranger = auth_client(make_user("carol"))
    team_slug = save(client, runs=[mixed["lab1"], mixed["lab2"]], namespace="lab").json()["slug"]
    assert_error(stranger.get(f"/api/v1/comparisons/{team_slug}"), 404, "not_found")


def test_only_the_owner_deletes_a_view(client, mixed, team, other_user, auth_client):
    slug = save(client, runs=[mixed["lab1"], mixed["lab2"]], namespace="lab").json()["slug"]
    assert_error(auth_client(other_user).delete(f"/api/v1/comparisons/{slug}"), 403, "forbidden")
    assert client.delete(f"/api/v1/comparisons/{slug}").status_code == 204
    assert not SavedComparison.objects.filter(slug=slug).exists()


@pytest.mark.parametrize("body,field", [
    ({"runs": [1]}, "runs"),
    ({"runs": "1,2"}, "runs"),
    ({"runs": [1, 2], "colour": "red"}, "colour"),
    ({"runs": [1, 2], "options": {"colour": "red"}}, "colour"),
    ({"runs": [1, 2], "options": {"at": "median"}}, "at"),
    ({"runs": [1, 2], "options": {"runs": [3, 4]}}, "options.runs"),
    ({"runs": [1, 2], "visibility": "public"}, "visibility"),
])
def test_bad_bodies_are_a_400_naming_the_field(client, mixed, body, field):
    if body["runs"] == [1, 2]:
        body = {**body, "runs": [mixed["lab1"], mixed["lab2"]]}
    assert_error(save(client, **body), 400, "invalid", field)


def test_runs_the_saver_cannot_see_are_not_saved_and_other_teams_refuse(client, mixed, other_user, auth_client):
    bob = auth_client(other_user)
    bobs = track(bob, "bobs", params={"lr": 1})
    saved = save(client, runs=[mixed["lab1"], bobs, mixed["lab2"]]).json()
    assert saved["runs"] == [mixed["lab1"], mixed["lab2"]]
    assert SavedComparison.objects.get(slug=saved["slug"]).run_ids == [mixed["lab1"], mixed["lab2"]]
    assert_error(save(client, runs=[mixed["lab1"], mixed["lab2"]], namespace="bob"), 403, "forbidden", "namespace")
