"""API tokens: personal and team service tokens, scopes, expiry, revocation at once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiToken, AuditEntry
from accounts.services import membership_remove
from tests.factories import assert_error, make_user, publish

pytestmark = pytest.mark.django_db
ALL = ["read", "write", "run", "admin"]


def test_it_creates_a_token_shows_the_plaintext_once_and_stores_only_a_hash(user, auth_client):
    client = auth_client(user, scopes=ALL)
    response = client.post("/api/v1/tokens", {"name": "ci", "scopes": ["read", "run"], "expires_in_days": 30},
                           format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    plaintext = body["token"]
    assert plaintext.startswith("fdk_") and body["prefix"] == plaintext[:12] + "…"
    assert body["scopes"] == ["read", "run"] and body["active"] is True
    assert timedelta(days=29) < timezone.datetime.fromisoformat(body["expires_at"]) - timezone.now() <= timedelta(days=30)
    stored = ApiToken.objects.get(pk=body["id"])
    assert plaintext not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    listed = client.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["ci", "test"]
    assert all("token" not in t for t in listed) and plaintext not in str(listed)
    # The new token works, with exactly its scopes.
    new = auth_client(user, token=plaintext)
    assert new.get("/api/v1/me").status_code == 200
    error = assert_error(new.post("/api/v1/teams", {"slug": "nope"}, format="json"), 403)
    assert "lacks the 'write' scope" in error["message"]


def test_a_revoked_token_is_refused_on_the_very_next_request(user, auth_client):
    admin = auth_client(user, scopes=ALL)
    made = admin.post("/api/v1/tokens", {"name": "laptop"}, format="json").json()
    client = auth_client(user, token=made["token"])
    assert client.get("/api/v1/me").status_code == 200
    revoked = admin.delete(f"/api/v1/tokens/{made['id']}").json()
    assert revoked["active"] is False and revoked["revoked_at"]
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")
    entries = AuditEntry.objects.filter(target__startswith="laptop").values_list("action", flat=True)
    assert sorted(entries) == ["token.create", "token.revoke"]


def test_expiry_must_be_in_the_future_and_an_expired_token_stops_working(user, auth_client):
    admin = auth_client(user, scopes=ALL)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert_error(admin.post("/api/v1/tokens", {"name": "x", "expires_at": past}, format="json"), 400,
                 field="expires_at")
    made = admin.post("/api/v1/tokens", {"name": "short", "expires_at": (timezone.now() + timedelta(hours=1)).isoformat()},
                      format="json").json()
    ApiToken.objects.filter(pk=made["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(auth_client(user, token=made["token"]).get("/api/v1/me"), 401)


def test_one_cannot_revoke_or_see_another_users_token(user, other_user, auth_client):
    made = auth_client(user, scopes=ALL).post("/api/v1/tokens", {"name": "mine"}, format="json").json()
    bob = auth_client(other_user, scopes=ALL)
    assert_error(bob.delete(f"/api/v1/tokens/{made['id']}"), 404)
    assert "mine" not in str(bob.get("/api/v1/tokens").json())
    assert ApiToken.objects.get(pk=made["id"]).revoked_at is None


def test_a_token_cannot_mint_a_token_with_more_scopes_than_it_has(user, auth_client):
    client = auth_client(user, scopes=["read", "admin"])
    assert_error(client.post("/api/v1/tokens", {"name": "x", "scopes": ["run"]}, format="json"), 403, field="scopes")
    assert client.post("/api/v1/tokens", {"name": "y", "scopes": ["read"]}, format="json").status_code == 201
    assert_error(auth_client(user).post("/api/v1/tokens", {"name": "z"}, format="json"), 403)  # no admin scope


def test_a_service_token_acts_in_its_team_only_with_the_role_its_scopes_need(crew, auth_client):
    publish(crew.admin, namespace="acme", visibility="private")
    publish(crew.editor, visibility="private")  # bob/demo: alice (the token's maker) cannot see it either
    publish(crew.admin, visibility="private", spec=None)  # alice/demo: alice's own, out of the token's reach
    admin = auth_client(crew.admin, scopes=ALL)
    made = admin.post("/api/v1/tokens", {"name": "ci", "team": "acme", "scopes": ["read", "run"]}, format="json").json()
    assert made["team"] == "acme" and made["created_by"] == "alice"
    svc = auth_client(crew.admin, token=made["token"])
    assert svc.get("/api/v1/workflows/acme/demo").status_code == 200
    assert_error(svc.get("/api/v1/workflows/alice/demo"), 404)  # the maker's own namespace is out of reach
    run = svc.post("/api/v1/runs", {"workflow": "acme/demo", "namespace": "acme"}, format="json")
    assert run.status_code == 201 and run.json()["namespace"] == "acme"
    # It is not a member to manage, and it outlives its maker's membership.
    assert [m["username"] for m in admin.get("/api/v1/teams/acme").json()["members"]] == ["alice", "bob", "vic"]
    carol = make_user("carol")
    admin.post("/api/v1/teams/acme/members", {"username": "carol", "role": "admin"}, format="json")
    membership_remove(team=crew.team, user=crew.admin, actor=crew.admin)
    assert svc.get("/api/v1/workflows/acme/demo").status_code == 200
    # Carol, now an admin, lists and revokes it; it stops at once.
    carol_client = auth_client(carol, scopes=ALL)
    assert [t["name"] for t in carol_client.get("/api/v1/tokens", {"team": "acme"}).json()] == ["ci"]
    assert carol_client.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    assert_error(svc.get("/api/v1/workflows/acme/demo"), 401)


def test_only_team_admins_make_service_tokens(crew, auth_client):
    assert_error(auth_client(crew.editor, scopes=ALL).post("/api/v1/tokens", {"name": "x", "team": "acme"},
                                                           format="json"), 403)
    assert_error(auth_client(crew.editor, scopes=ALL).get("/api/v1/tokens", {"team": "acme"}), 403)
    assert_error(auth_client(crew.admin, scopes=ALL).post("/api/v1/tokens", {"name": "x", "team": "alice"},
                                                          format="json"), 400, field="team")


def test_a_read_only_service_token_is_a_viewer(crew, auth_client):
    publish(crew.admin, namespace="acme", visibility="private")
    made = auth_client(crew.admin, scopes=ALL).post("/api/v1/tokens", {"name": "dash", "team": "acme",
                                                                        "scopes": ["read"]}, format="json").json()
    svc = auth_client(crew.admin, token=made["token"])
    assert svc.get("/api/v1/workflows/acme/demo").status_code == 200
    assert_error(svc.post("/api/v1/runs", {"workflow": "acme/demo", "namespace": "acme"}, format="json"), 403)
