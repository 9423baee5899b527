"""Who may read a workflow: public to everyone, team and private to its namespace only."""
from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import membership_set, team_create
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(user):
    return publish(user, spec=make_spec(name="secret"), visibility="private")


def test_it_hides_a_private_workflow_exactly_like_a_missing_one(user, other_user, auth_client, private):
    bob = auth_client(other_user)
    hidden = bob.get("/api/v1/workflows/alice/secret")
    missing = bob.get("/api/v1/workflows/alice/absent")
    error = assert_error(hidden, 404, "not_found")
    assert error == {**assert_error(missing, 404, "not_found"), "message": error["message"]}
    assert error["message"].replace("secret", "X") == missing.json()["error"]["message"].replace("absent", "X")
    assert_error(bob.get("/api/v1/workflows/alice/secret/versions/1.0.0"), 404, "not_found")


def test_it_shows_a_private_workflow_to_its_owner(user, auth_client, private):
    response = auth_client(user).get("/api/v1/workflows/alice/secret")
    assert response.status_code == 200
    assert response.json()["visibility"] == "private"


def test_it_hides_a_private_workflow_from_anonymous_readers(api_client, private):
    assert_error(api_client.get("/api/v1/workflows/alice/secret"), 404, "not_found")


def test_it_shows_a_public_workflow_to_everyone(user, other_user, auth_client, api_client):
    publish(user, visibility="public")
    assert auth_client(other_user).get("/api/v1/workflows/alice/demo").status_code == 200
    anonymous = api_client.get("/api/v1/workflows/alice/demo")
    assert anonymous.status_code == 200
    assert anonymous.json()["latest_version"] == "1.0.0"
    version = api_client.get("/api/v1/workflows/alice/demo/versions/1.0.0")
    assert version.status_code == 200 and version.json()["spec"]["name"] == "demo"


def test_it_shows_a_team_workflow_to_members_only(user, other_user, auth_client):
    team = team_create(slug="ml-team", owner=user)
    publish(user, namespace="ml-team", visibility="team")
    assert_error(auth_client(other_user).get("/api/v1/workflows/ml-team/demo"), 404, "not_found")
    membership_set(team=team, user=other_user, role=Membership.Role.VIEWER)
    assert auth_client(other_user).get("/api/v1/workflows/ml-team/demo").status_code == 200


def test_it_answers_404_for_a_missing_version(user, api_client):
    publish(user)
    assert_error(api_client.get("/api/v1/workflows/alice/demo/versions/9.9.9"), 404, "not_found", "version")
