"""The account pages: sign-up, login, password change, teams, members, quotas and tokens."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiToken, Membership, Team
from accounts.services import membership_set, team_create
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()


def test_sign_up_makes_the_account_and_its_namespace_and_logs_in(client):
    page = client.get("/signup/")
    assert page.status_code == 200 and b"Create account" in page.content
    response = client.post("/signup/", {"username": "newbie", "email": "n@example.com",
                                        "password1": "a-Long-pass-123", "password2": "a-Long-pass-123"})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert Team.objects.get(slug="newbie").personal_of.username == "newbie"
    assert client.get("/me/").status_code == 200  # logged in


@pytest.mark.parametrize("data, message", [
    ({"username": "alice", "password1": "a-Long-pass-123", "password2": "a-Long-pass-123"}, "is taken"),
    ({"username": "x y", "password1": "a-Long-pass-123", "password2": "a-Long-pass-123"}, "not a valid name"),
    ({"username": "zed", "password1": "short", "password2": "short"}, "too short"),
    ({"username": "zed", "password1": "a-Long-pass-123", "password2": "other-pass-456"}, "differ"),
])
def test_sign_up_explains_what_is_wrong(client, user, data, message):
    response = client.post("/signup/", data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not User.objects.filter(username="zed").exists()


def test_sign_up_can_be_turned_off(client, settings):
    settings.FLOWDECK_SIGNUP_ENABLED = False
    assert client.get("/signup/").status_code == 404
    assert client.post("/signup/", {"username": "x", "password1": "a-Long-pass-123",
                                    "password2": "a-Long-pass-123"}).status_code == 404
    assert b"Sign up" not in client.get("/login/").content


def test_login_logout_and_password_change(client, user):
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    response = client.post("/password/", {"old_password": PASSWORD, "new_password1": "x-New-pass-456",
                                          "new_password2": "x-New-pass-456"})
    assert response.status_code == 302 and response["Location"] == "/password/done/"
    assert client.get("/me/").status_code == 200  # the session survives its own password change
    assert client.post("/logout/").status_code == 302
    assert client.get("/me/").status_code == 302
    assert client.login(username="alice", password="x-New-pass-456")


def test_a_team_is_made_and_managed_from_its_page(client, user):
    make_user("bob")
    client.force_login(user)
    response = client.post("/teams/", {"slug": "acme", "display_name": "Acme ML"})
    assert response.status_code == 302 and response["Location"] == "/teams/acme/"
    page = client.get("/teams/acme/").content.decode()
    assert "Acme ML" in page and "Add member" in page and "Save quotas" in page and "Audit log" in page
    client.post("/teams/acme/members", {"username": "bob", "role": "editor"})
    assert Membership.objects.get(team__slug="acme", user__username="bob").role == "editor"
    # The last admin cannot step down: the page says why.
    response = client.post("/teams/acme/members/alice", {"role": "viewer"}, follow=True)
    assert "last admin" in response.content.decode()
    client.post("/teams/acme/quota", {"max_concurrent_runs": "3", "max_storage_bytes": "", "max_run_duration_s": "0"})
    team = Team.objects.get(slug="acme")
    assert (team.max_concurrent_runs, team.max_storage_bytes, team.max_run_duration_s) == (3, None, 0)
    client.post("/teams/acme/members/bob", {"action": "remove"})
    assert not Membership.objects.filter(team=team, user__username="bob").exists()


def test_a_viewer_sees_the_team_but_no_admin_forms_and_cannot_post_them(client, user, other_user):
    team = team_create(slug="acme", owner=user)
    membership_set(team=team, user=other_user, role="viewer")
    client.force_login(other_user)
    page = client.get("/teams/acme/").content.decode()
    assert "alice" in page and "Add member" not in page and "Save quotas" not in page and "Leave team" in page
    assert client.post("/teams/acme/quota", {"max_concurrent_runs": "1"}, follow=True).status_code == 200
    assert Team.objects.get(slug="acme").max_concurrent_runs is None
    client.force_login(make_user("olga"))
    assert client.get("/teams/acme/").status_code == 404


def test_the_token_page_shows_a_new_token_once_and_revokes(client, user):
    client.force_login(user)
    response = client.post("/me/tokens/", {"name": "laptop", "scopes": ["read", "run"], "expires_in_days": "30"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(name="laptop")
    html = response.content.decode()
    plaintext = html.split('<pre class="mono" id="new-token">')[1].split("</pre>")[0]
    assert plaintext.startswith(token.prefix) and token.expires_at is not None
    again = client.get("/me/tokens/").content.decode()
    assert plaintext not in again and f"{token.prefix}…" in again
    client.post(f"/tokens/{token.pk}/revoke")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in client.get("/me/tokens/").content.decode()


def test_a_team_admin_makes_a_service_token_on_the_team_page(client, user):
    team_create(slug="acme", owner=user)
    client.force_login(user)
    response = client.post("/teams/acme/tokens", {"svc-name": "ci", "svc-scopes": ["read", "run"]})
    assert response.status_code == 200
    token = ApiToken.objects.get(name="ci")
    assert token.team.slug == "acme" and token.created_by == user
    assert 'id="new-token"' in response.content.decode()
    page = client.get("/teams/acme/").content.decode()
    assert "Service tokens" in page and f"{token.prefix}…" in page
    # The token's account is not listed among the members.
    assert token.user.username not in page.split("Service tokens")[0]


def test_the_run_form_starts_a_run_in_a_team_and_says_when_it_waits(client, user):
    from accounts.services import quota_set
    from runs.models import Run
    from tests.factories import publish

    team = team_create(slug="acme", owner=user)
    quota_set(actor=user, team=team, max_concurrent_runs=1)
    publish(user, namespace="acme")
    client.force_login(user)
    page = client.get("/w/acme/demo/").content.decode()
    assert 'name="run_namespace"' in page and "alice (yours)" in page
    first = client.post("/w/acme/demo/run", {"run_namespace": "acme"}, follow=True)
    assert "in acme." in first.content.decode()
    second = client.post("/w/acme/demo/run", {"run_namespace": "acme"}, follow=True).content.decode()
    assert "It is waiting for quota." in second and "waiting for quota" in second
    assert list(Run.objects.order_by("pk").values_list("namespace__slug", "status")) == [
        ("acme", "queued"), ("acme", "waiting")]
    # A namespace the user may not run in is refused on the form.
    team_create(slug="other", owner=make_user("zoe"))
    refused = client.post("/w/acme/demo/run", {"run_namespace": "other"})
    assert refused.status_code == 400 and "editor or admin role in &#x27;other&#x27;" in refused.content.decode()
