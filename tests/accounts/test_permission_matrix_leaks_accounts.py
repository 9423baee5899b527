"""The matrix's leak checks for accounts: the teams list, team pages, the audit log and token
lists show each role exactly what it may see, outsiders nothing of a team (its name
included), and a refused form post changes nothing."""
from __future__ import annotations

import pytest

from accounts.models import AuditEntry, Membership
from tests.accounts.matrix_client import api_client, web_client
from tests.accounts.matrix_world import MEMBER_ROLES, ROLES, USERNAMES

pytestmark = pytest.mark.django_db
SIGNED_IN = [r for r in ROLES if r != "anonymous"]


@pytest.fixture(autouse=True)
def _s3_runs_cleanup():
    """The world's files live through every test of the module (see test_permission_matrix)."""
    yield


def teams_of(role: str) -> set[str]:
    return {USERNAMES[role], *({"lab"} if role in MEMBER_ROLES else set())}


@pytest.mark.parametrize("role", SIGNED_IN)
def test_the_teams_list_holds_only_the_roles_teams(world, role):
    listed = api_client(world, role).get("/api/v1/teams").json()
    assert {t["slug"] for t in listed} == teams_of(role)
    page = web_client(world, role).get("/teams/").content.decode()
    assert ('href="/teams/lab/"' in page) == (role in MEMBER_ROLES)
    for other in set(USERNAMES.values()) - {USERNAMES[role]}:
        assert f'href="/teams/{other}/"' not in page, (role, other)


@pytest.mark.parametrize("path", ["/api/v1/teams/{slug}", "/api/v1/teams/{slug}/members", "/api/v1/teams/{slug}/quota",
                                  "/api/v1/teams/{slug}/audit", "/api/v1/teams/{slug}/audit/export",
                                  "/api/v1/tokens?team={slug}"])
def test_a_team_the_outsider_is_not_in_answers_as_one_that_does_not_exist(world, path):
    api = api_client(world, "outsider")
    lab = api.get(path.format(slug="lab"))
    nope = api.get(path.format(slug="no-such-team"))
    assert lab.status_code == nope.status_code == 404
    assert lab.content.replace(b"lab", b"X") == nope.content.replace(b"no-such-team", b"X")


@pytest.mark.parametrize("role", SIGNED_IN)
def test_the_audit_log_is_read_by_the_teams_admin_alone(world, role):
    api = api_client(world, role)
    entries = api.get("/api/v1/teams/lab/audit")
    exported = api.get("/api/v1/teams/lab/audit/export", {"format": "jsonl"})
    page = web_client(world, role).get("/teams/lab/audit")
    expected = {"admin": 200, "outsider": 404}.get(role, 403)
    assert (entries.status_code, exported.status_code, page.status_code) == (expected,) * 3
    if role == "admin":
        in_db = AuditEntry.objects.filter(team=world.lab).count()
        assert entries.json()["count"] == in_db >= 4  # team.create, two member.add, quota.change, token.create
        assert len(b"".join(exported.streaming_content).splitlines()) == in_db
        assert {e["action"] for e in entries.json()["results"]} >= {"team.create", "member.add", "quota.change"}
    else:
        assert b"member.add" not in entries.content and b"member.add" not in page.content


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_the_team_page_shows_service_tokens_and_the_audit_link_to_its_admins_only(world, role):
    page = web_client(world, role).get("/teams/lab/").content.decode()
    assert ("lab-ci" in page) == (role == "admin")
    assert ('href="/teams/lab/audit"' in page) == (role == "admin")
    detail = api_client(world, role).get("/api/v1/teams/lab").json()
    assert detail["role"] == role
    assert {m["username"] for m in detail["members"]} == {"ada", "eddie", "vera"}  # no service account listed


@pytest.mark.parametrize("role", SIGNED_IN)
def test_token_lists_hold_only_the_callers_own(world, role):
    listed = api_client(world, role).get("/api/v1/tokens").json()
    assert {t["name"] for t in listed} == ({"matrix", "spare"} if role == "editor" else {"matrix"})
    assert all(t["team"] is None for t in listed)
    page = web_client(world, role).get("/me/tokens/").content.decode()
    assert ("spare" in page) == (role == "editor") and "lab-ci" not in page
    service = api_client(world, role).get("/api/v1/tokens", {"team": "lab"})
    assert service.status_code == {"admin": 200, "outsider": 404}.get(role, 403)
    if role == "admin":
        assert [t["name"] for t in service.json()] == ["lab-ci"]


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_refused_team_form_changes_nothing(world, role):
    """The team page's forms answer a refusal with a redirect and a message: nothing changes."""
    web = web_client(world, role)
    web.post("/teams/lab/members", {"username": "otto", "role": "admin"})
    web.post("/teams/lab/members/vera", {"role": "admin"})
    web.post("/teams/lab/settings", {"description": "taken over"})
    web.post("/teams/lab/quota", {"max_concurrent_runs": "0"})
    web.post("/teams/lab/tokens", {"svc-name": "mine", "svc-scopes": ["admin"]})
    world.lab.refresh_from_db()
    assert not Membership.objects.filter(team=world.lab, user__username="otto").exists()
    assert Membership.objects.get(team=world.lab, user__username="vera").role == "viewer"
    assert world.lab.description != "taken over" and world.lab.max_concurrent_runs == 10
    assert list(world.lab.service_tokens.values_list("name", flat=True)) == ["lab-ci"]


def test_a_site_admin_sees_every_team_and_sets_quotas_but_manages_no_one_and_sees_no_runs(world):
    """Site admins (``is_staff``) see every team, change its quotas and read its audit log;
    members, settings, service tokens and the team's private work stay its own admins'."""
    from rest_framework.test import APIClient

    from tests.factories import make_token, make_user

    staff = make_user("sam")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(staff, ['read', 'write', 'run', 'admin'])}")
    assert {"lab", "eddie", "sam"} <= {t["slug"] for t in api.get("/api/v1/teams").json()}
    assert api.get("/api/v1/teams/lab").status_code == 200
    assert api.patch("/api/v1/teams/lab/quota", {"max_concurrent_runs": 3}, format="json").status_code == 200
    assert api.get("/api/v1/teams/lab/audit").status_code == 200
    assert api.post("/api/v1/teams/lab/members", {"username": "otto", "role": "viewer"}, format="json").status_code == 403
    assert api.patch("/api/v1/teams/lab", {"description": "x"}, format="json").status_code == 403
    assert api.get("/api/v1/tokens", {"team": "lab"}).status_code == 403
    assert api.get("/api/v1/runs").json()["count"] == 0  # seeing a team is not seeing its runs
    assert api.get("/api/v1/runs/count").json()["count"] == 0
    team = world.columns["team"]
    assert api.get(f"/api/v1/runs/{team.run.pk}").status_code == 404
    assert api.get(f"/api/v1/comparisons/{team.comparison.slug}").status_code == 404
