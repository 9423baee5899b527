"""Yanking, unyanking and deprecating versions through the API: who may, and what follows."""
from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import membership_set, team_create
from registry.models import Asset, AssetVersion
from runs.models import Run
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db

YANK = "/api/v1/workflows/alice/demo/versions/{}/yank"


@pytest.fixture
def versions(user):
    return [publish(user, version=v, changelog=f"release {v}") for v in ("1.0.0", "1.1.0")]


def _latest() -> str | None:
    latest = Asset.objects.get(name="demo").latest_version
    return latest.version if latest else None


def test_it_yanks_as_owner_refuses_runs_and_moves_latest_back(user, auth_client, versions):
    alice = auth_client(user)
    response = alice.post(YANK.format("1.1.0"), {"reason": "leaks the training data"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["yanked"] is True
    assert response.json()["yank_reason"] == "leaks the training data"

    assert AssetVersion.objects.get(version="1.1.0").yanked_at is not None
    assert _latest() == "1.0.0"
    listed = alice.get("/api/v1/workflows/alice/demo").json()
    assert listed["latest_version"] == "1.0.0"
    assert {v["version"]: v["yanked"] for v in listed["versions"]} == {"1.1.0": True, "1.0.0": False}
    assert listed["versions"][0]["yank_reason"] == "leaks the training data"

    refused = alice.post("/api/v1/runs", {"workflow": "alice/demo@1.1.0"}, format="json")
    error = assert_error(refused, 400, "invalid", "version")
    assert "alice/demo@1.1.0" in error["message"] and "leaks the training data" in error["message"]

    started = alice.post("/api/v1/runs", {"workflow": "alice/demo"}, format="json")
    assert started.status_code == 201, started.content
    assert Run.objects.get(pk=started.json()["id"]).asset_version.version == "1.0.0"


def test_yanking_every_version_leaves_no_latest(user, auth_client, versions):
    alice = auth_client(user)
    for v in ("1.1.0", "1.0.0"):
        assert alice.post(YANK.format(v), {"reason": "bad"}, format="json").status_code == 200
    assert _latest() is None
    assert_error(alice.post("/api/v1/runs", {"workflow": "alice/demo"}, format="json"), 404, "not_found")


def test_it_unyanks(user, auth_client, versions):
    alice = auth_client(user)
    alice.post(YANK.format("1.1.0"), {"reason": "oops"}, format="json")
    response = alice.delete(YANK.format("1.1.0"))
    assert response.status_code == 200, response.content
    assert response.json()["yanked"] is False and response.json()["yank_reason"] == ""
    assert _latest() == "1.1.0"
    assert alice.post("/api/v1/runs", {"workflow": "alice/demo@1.1.0"}, format="json").status_code == 201


def test_a_yank_needs_a_reason(user, auth_client, versions):
    response = auth_client(user).post(YANK.format("1.1.0"), {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert AssetVersion.objects.get(version="1.1.0").yanked_at is None


def test_a_non_owner_gets_403_on_a_public_workflow(other_user, auth_client, versions):
    bob = auth_client(other_user)
    assert_error(bob.post(YANK.format("1.1.0"), {"reason": "mine now"}, format="json"), 403, "forbidden")
    assert_error(bob.delete(YANK.format("1.1.0")), 403, "forbidden")
    assert_error(bob.post("/api/v1/workflows/alice/demo/versions/1.0.0/deprecate", {"message": "x"}, format="json"),
                 403, "forbidden")
    assert AssetVersion.objects.filter(yanked_at__isnull=False).count() == 0
    assert AssetVersion.objects.filter(deprecated_at__isnull=False).count() == 0


def test_a_non_owner_gets_404_on_a_private_workflow(user, other_user, auth_client):
    publish(user, spec=make_spec(name="secret"), visibility="private")
    bob = auth_client(other_user)
    url = "/api/v1/workflows/alice/secret/versions/1.0.0/yank"
    assert_error(bob.post(url, {"reason": "x"}, format="json"), 404, "not_found")
    assert_error(bob.delete(url), 404, "not_found")
    assert AssetVersion.objects.get().yanked_at is None


def test_a_team_editor_may_yank_and_a_viewer_may_not(user, other_user, auth_client):
    team = team_create(slug="acme", owner=user)
    publish(user, namespace="acme", visibility="team")
    url = "/api/v1/workflows/acme/demo/versions/1.0.0/yank"
    membership_set(team=team, user=other_user, role=Membership.Role.VIEWER)
    assert_error(auth_client(other_user).post(url, {"reason": "x"}, format="json"), 403, "forbidden")
    membership_set(team=team, user=other_user, role=Membership.Role.EDITOR)
    assert auth_client(other_user).post(url, {"reason": "x"}, format="json").status_code == 200


def test_it_deprecates_with_a_successor(user, auth_client, versions):
    alice = auth_client(user)
    response = alice.post(
        "/api/v1/workflows/alice/demo/versions/1.0.0/deprecate",
        {"successor": "1.1.0", "message": "Use 1.1.0: it fixes the split."},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = alice.get("/api/v1/workflows/alice/demo/versions/1.0.0").json()
    assert body["deprecated"] is True
    assert body["deprecation_message"] == "Use 1.1.0: it fixes the split."
    assert body["successor"] == "alice/demo@1.1.0"
    # Deprecated is not yanked: it can still be run, and the latest does not move.
    assert alice.post("/api/v1/runs", {"workflow": "alice/demo@1.0.0"}, format="json").status_code == 201
    assert _latest() == "1.1.0"


def test_a_successor_must_exist_and_differ(user, auth_client, versions):
    alice = auth_client(user)
    url = "/api/v1/workflows/alice/demo/versions/1.0.0/deprecate"
    assert_error(alice.post(url, {"successor": "9.9.9"}, format="json"), 400, "invalid", "successor")
    assert_error(alice.post(url, {"successor": "1.0.0"}, format="json"), 400, "invalid", "successor")
    assert AssetVersion.objects.get(version="1.0.0").deprecated_at is None


def test_a_successor_in_another_workflow_must_be_visible_to_its_readers(user, auth_client, versions):
    publish(user, spec=make_spec(name="demo2"), visibility="public")
    publish(user, spec=make_spec(name="hidden2"), visibility="private")
    alice = auth_client(user)
    url = "/api/v1/workflows/alice/demo/versions/1.0.0/deprecate"
    assert_error(alice.post(url, {"successor": "alice/hidden2@1.0.0"}, format="json"), 400, "invalid", "successor")
    response = alice.post(url, {"successor": "alice/demo2", "message": "renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["successor"] == "alice/demo2@1.0.0"
