"""Forking: a new workflow in your namespace from a version of another, recording its origin."""
from __future__ import annotations

import json

import pytest

from accounts.models import Membership, Team
from registry.models import AssetVersion
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db


def url(ref: str) -> str:
    return f"/api/v1/workflows/{ref}/fork"


def test_it_forks_a_version_into_my_namespace(user, other_user, auth_client, client):
    publish(user, readme="# Demo", changelog="First.")
    source = publish(user, version="1.1.0", readme="# Demo 1.1", changelog="Second.")
    response = auth_client(other_user).post(url("alice/demo"), {"version": "1.0.0", "name": "my-demo"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["asset"], body["version"], body["forked_from"]) == ("bob/my-demo", "1.0.0", "alice/demo@1.0.0")

    fork = AssetVersion.objects.get(asset__namespace__slug="bob", asset__name="my-demo")
    origin = source.asset.versions.get(version="1.0.0")
    assert fork.forked_from == origin
    assert fork.bundle_digest == origin.bundle_digest  # content-addressed: no bytes copied
    assert fork.spec["name"] == "my-demo" and fork.spec["steps"] == origin.spec["steps"]
    assert fork.readme == "# Demo" and fork.changelog == "Forked from alice/demo@1.0.0."
    assert fork.asset.visibility == "private"

    client.force_login(other_user)
    page = client.get("/w/bob/my-demo/").content.decode()
    assert 'Forked from <a href="/w/alice/demo/?version=1.0.0">alice/demo@1.0.0</a>' in page


def test_a_name_clash_is_a_conflict(user, auth_client):
    publish(user)
    assert_error(auth_client(user).post(url("alice/demo"), {}, format="json"), 409, "conflict")
    response = auth_client(user).post(url("alice/demo"), {"name": "demo-2"}, format="json")
    assert response.status_code == 201, response.content


def test_a_private_workflow_of_another_user_is_not_found(user, other_user, auth_client):
    publish(user, visibility="private")
    assert_error(auth_client(other_user).post(url("alice/demo"), {}, format="json"), 404)


def test_it_forks_into_a_team_only_as_editor(user, other_user, auth_client):
    publish(user)
    team = Team.objects.create(slug="lab")
    membership = Membership.objects.create(team=team, user=other_user, role=Membership.Role.VIEWER)
    bob = auth_client(other_user)
    assert_error(bob.post(url("alice/demo"), {"namespace": "lab"}, format="json"), 403)
    membership.role = Membership.Role.EDITOR
    membership.save()
    assert bob.post(url("alice/demo"), {"namespace": "lab"}, format="json").json()["asset"] == "lab/demo"


def test_an_invalid_new_name_names_the_field(user, auth_client):
    publish(user, spec=make_spec())
    error = assert_error(auth_client(user).post(url("alice/demo"), {"name": "Bad Name!"}, format="json"), 400)
    assert error["field"] == "name"
