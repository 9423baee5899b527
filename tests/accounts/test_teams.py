"""Teams through the API: create, members and roles, the last-admin rule, who may do what."""
from __future__ import annotations

import pytest

from accounts.models import AuditEntry, Membership
from tests.factories import assert_error, make_user

pytestmark = pytest.mark.django_db
ALL = ["read", "write", "run", "admin"]


def test_it_creates_a_team_with_its_creator_as_admin(user, auth_client):
    client = auth_client(user, scopes=ALL)
    response = client.post("/api/v1/teams", {"slug": "ml-lab", "display_name": "ML lab"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "ml-lab" and body["role"] == "admin" and body["personal"] is False
    assert [(m["username"], m["role"]) for m in body["members"]] == [("alice", "admin")]
    assert body["usage"] == {"current_runs": 0, "waiting_runs": 0, "storage_bytes": 0, "runs_this_month": 0}
    assert [t["slug"] for t in client.get("/api/v1/teams").json()] == ["ml-lab", "alice"]


@pytest.mark.parametrize("slug, status", [("alice", 409), ("Bad Name", 400), ("-x", 400)])
def test_it_refuses_a_taken_or_malformed_name(user, auth_client, slug, status):
    assert_error(auth_client(user).post("/api/v1/teams", {"slug": slug}, format="json"), status, field="slug")


def test_an_admin_adds_members_and_changes_their_roles(crew, auth_client):
    client = auth_client(crew.admin, scopes=ALL)
    carol = make_user("carol")
    response = client.post("/api/v1/teams/acme/members", {"username": "carol", "role": "editor"}, format="json")
    assert response.status_code == 201 and response.json() == {**response.json(), "username": "carol", "role": "editor"}
    assert client.patch("/api/v1/teams/acme/members/carol", {"role": "admin"}, format="json").json()["role"] == "admin"
    assert Membership.objects.get(team=crew.team, user=carol).role == "admin"
    assert client.delete("/api/v1/teams/acme/members/carol").status_code == 204
    assert not Membership.objects.filter(team=crew.team, user=carol).exists()
    actions = list(AuditEntry.objects.filter(team=crew.team, target="carol").values_list("action", "data"))
    assert actions == [("member.remove", {"role": "admin"}), ("member.role", {"from": "editor", "to": "admin"}),
                       ("member.add", {"role": "editor"})]


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_only_admins_manage_members(crew, auth_client, who):
    client = auth_client(getattr(crew, who), scopes=ALL)
    make_user("carol")
    assert_error(client.post("/api/v1/teams/acme/members", {"username": "carol"}, format="json"), 403, "forbidden")
    assert_error(client.patch("/api/v1/teams/acme/members/vic", {"role": "admin"}, format="json"), 403)
    assert_error(client.patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": 9}, format="json"), 403)
    assert Membership.objects.get(team=crew.team, user=crew.viewer).role == "viewer"


def test_an_outsider_does_not_learn_the_team_exists(crew, auth_client):
    client = auth_client(crew.outsider, scopes=ALL)
    assert_error(client.get("/api/v1/teams/acme"), 404, "not_found")
    assert_error(client.post("/api/v1/teams/acme/members", {"username": "olga"}, format="json"), 404)
    assert [t["slug"] for t in client.get("/api/v1/teams").json()] == ["olga"]


def test_the_last_admin_can_be_neither_demoted_nor_removed(crew, auth_client):
    client = auth_client(crew.admin, scopes=ALL)
    assert_error(client.patch("/api/v1/teams/acme/members/alice", {"role": "editor"}, format="json"), 409, "conflict")
    assert_error(client.delete("/api/v1/teams/acme/members/alice"), 409, "conflict")
    client.patch("/api/v1/teams/acme/members/bob", {"role": "admin"}, format="json")
    assert client.patch("/api/v1/teams/acme/members/alice", {"role": "viewer"}, format="json").status_code == 200
    # Now bob is the only admin; alice (a viewer) cannot touch him, and he cannot step down.
    bob = auth_client(crew.editor, scopes=ALL)
    assert_error(bob.patch("/api/v1/teams/acme/members/bob", {"role": "editor"}, format="json"), 409)


def test_a_member_may_leave_but_a_personal_namespace_takes_no_members(crew, auth_client):
    viewer = auth_client(crew.viewer, scopes=ALL)
    assert viewer.delete("/api/v1/teams/acme/members/vic").status_code == 204
    assert_error(viewer.get("/api/v1/teams/acme"), 404)
    alice = auth_client(crew.admin, scopes=ALL)
    assert_error(alice.post("/api/v1/teams/alice/members", {"username": "bob"}, format="json"), 400, field="team")


def test_team_admin_apis_need_the_admin_scope(crew, auth_client):
    make_user("carol")
    client = auth_client(crew.admin, scopes=["read", "write", "run"])
    assert client.get("/api/v1/teams/acme").status_code == 200  # reading needs only read
    assert_error(client.post("/api/v1/teams/acme/members", {"username": "carol"}, format="json"), 403)


def test_an_unknown_user_or_role_is_a_clear_error(crew, auth_client):
    client = auth_client(crew.admin, scopes=ALL)
    assert_error(client.post("/api/v1/teams/acme/members", {"username": "nobody"}, format="json"), 404, field="username")
    assert_error(client.post("/api/v1/teams/acme/members", {"username": "bob", "role": "owner"}, format="json"), 400,
                 field="role")


def test_an_admin_changes_the_team_settings(crew, auth_client):
    client = auth_client(crew.admin, scopes=ALL)
    body = client.patch("/api/v1/teams/acme", {"display_name": "Acme ML", "description": "Churn models"},
                        format="json").json()
    assert (body["display_name"], body["description"]) == ("Acme ML", "Churn models")
    assert_error(auth_client(crew.editor, scopes=ALL).patch("/api/v1/teams/acme", {"display_name": "x"},
                                                            format="json"), 403)
