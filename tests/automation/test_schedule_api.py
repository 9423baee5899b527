"""The schedules API: create, list, detail, pause, resume, delete, and who may do what."""
from __future__ import annotations

import pytest

from accounts.services import membership_set, team_create
from automation.models import Schedule
from automation.services import schedule_fire
from tests.factories import assert_error, make_user, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_setup(user):
    """Team ``acme`` (alice admin) with a private workflow, a viewer ``vic`` and an outsider ``bob``."""
    team = team_create(slug="acme", owner=user)
    viewer = make_user("vic")
    membership_set(team=team, user=viewer, role="viewer")
    publish(user, namespace="acme", visibility="team")
    return team, viewer


def _create(client, **body):
    return client.post("/api/v1/schedules", {"workflow": "acme/demo", "cron": "0 3 * * *", **body}, format="json")


def test_it_creates_lists_shows_pauses_resumes_and_deletes(user, auth_client, team_setup):
    api = auth_client(user)
    response = _create(api, params={"n": 5}, name="nightly", max_retries=2, timezone="Europe/Paris")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["workflow"] == "acme/demo" and body["version"] == "latest" and body["namespace"] == "acme"
    assert body["cron"] == "0 3 * * *" and body["params"] == {"n": 5} and body["max_retries"] == 2
    assert body["skip_if_running"] is True and body["paused"] is False
    assert body["next_fire_at"].endswith("T03:00:00+01:00")
    sid = body["id"]

    schedule_fire(schedule_id=sid)
    detail = api.get(f"/api/v1/schedules/{sid}").json()
    assert [f["outcome"] for f in detail["firings"]] == ["started"] and detail["firings"][0]["run"]

    assert [s["id"] for s in api.get("/api/v1/schedules?workflow=acme/demo").json()["results"]] == [sid]
    paused = api.post(f"/api/v1/schedules/{sid}/pause").json()
    assert paused["paused"] is True and paused["next_fire_at"] is None
    assert api.post(f"/api/v1/schedules/{sid}/resume").json()["paused"] is False
    assert api.delete(f"/api/v1/schedules/{sid}").status_code == 204
    assert not Schedule.objects.filter(pk=sid).exists()


def test_a_pinned_version_and_bad_input_name_the_field(user, auth_client, team_setup):
    api = auth_client(user)
    assert _create(api, workflow="acme/demo@1.0.0").json()["version"] == "1.0.0"
    assert_error(_create(api, cron="every day"), 400, "invalid", "cron")
    assert_error(_create(api, params={"n": "x"}), 400, "invalid", "params.n")
    assert_error(_create(api, workflow="acme/demo@9.9.9"), 404, "not_found", "version")
    assert_error(_create(api, namespace="nope"), 404, "not_found", "namespace")


def test_viewers_see_but_cannot_manage_and_outsiders_get_404(user, other_user, auth_client, team_setup):
    _, viewer = team_setup
    sid = _create(auth_client(user)).json()["id"]

    as_viewer = auth_client(viewer)
    assert as_viewer.get(f"/api/v1/schedules/{sid}").status_code == 200
    assert [s["id"] for s in as_viewer.get("/api/v1/schedules?workflow=acme/demo").json()["results"]] == [sid]
    assert_error(as_viewer.post(f"/api/v1/schedules/{sid}/pause"), 403, "forbidden")
    assert_error(as_viewer.delete(f"/api/v1/schedules/{sid}"), 403, "forbidden")
    assert_error(_create(as_viewer, namespace="acme"), 403, "forbidden", "namespace")
    assert _create(as_viewer).json()["namespace"] == "vic"  # by default, runs go to her own namespace

    as_outsider = auth_client(other_user)
    assert_error(as_outsider.get(f"/api/v1/schedules/{sid}"), 404, "not_found")
    assert_error(as_outsider.post(f"/api/v1/schedules/{sid}/pause"), 404, "not_found")
    assert_error(as_outsider.delete(f"/api/v1/schedules/{sid}"), 404, "not_found")
    assert as_outsider.get("/api/v1/schedules").json()["results"] == []
    assert_error(_create(as_outsider), 404, "not_found")  # a team workflow bob cannot see
    assert Schedule.objects.get(pk=sid).paused is False


def test_a_read_only_token_cannot_create_and_anonymous_is_401(user, auth_client, api_client, team_setup):
    assert_error(_create(auth_client(user, scopes=["read"])), 403)
    assert_error(api_client.get("/api/v1/schedules"), 401, "not_authenticated")


def test_the_schema_lists_the_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/schedules", "/api/v1/schedules/{schedule_id}/pause", "/api/v1/schedules/{schedule_id}/resume",
                 "/api/v1/triggers", "/api/v1/triggers/{trigger_id}", "/api/v1/hooks/{key}"):
        assert f'"{path}"' in schema or f"{path}:" in schema, path
