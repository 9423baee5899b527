"""The role rules of accounts/access.py, end to end through the API: what a viewer, an
editor and an admin of a team may do with its workflows and runs, and what a member who
leaves loses."""
from __future__ import annotations

import pytest

from accounts.services import membership_remove
from runs.models import Run
from runs.services.lifecycle import run_start
from tests.factories import assert_error, make_bundle, make_spec, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_flow(crew):
    return publish(crew.admin, namespace="acme", visibility="private")


def _publish(client, version="2.0.0"):
    import io
    import json

    return client.post("/api/v1/workflows/publish", {"spec": json.dumps(make_spec()), "bundle": io.BytesIO(make_bundle()),
                                                    "namespace": "acme", "version": version}, format="multipart")


def test_a_viewer_sees_the_team_work_but_changes_nothing(crew, team_flow, auth_client):
    run = run_start(user=crew.editor, version=team_flow, namespace=crew.team)
    client = auth_client(crew.viewer)
    assert client.get("/api/v1/workflows/acme/demo").status_code == 200
    assert client.get(f"/api/v1/runs/{run.pk}").status_code == 200
    assert_error(_publish(client), 403, "forbidden")
    assert_error(client.post("/api/v1/runs", {"workflow": "acme/demo", "namespace": "acme"}, format="json"), 403)
    assert_error(client.post(f"/api/v1/runs/{run.pk}/stop"), 403)


def test_an_outsider_sees_nothing_of_a_private_team_workflow(crew, team_flow, auth_client):
    run = run_start(user=crew.admin, version=team_flow, namespace=crew.team)
    client = auth_client(crew.outsider)
    assert_error(client.get("/api/v1/workflows/acme/demo"), 404)
    assert_error(client.get(f"/api/v1/runs/{run.pk}"), 404)
    assert run.pk not in [r["id"] for r in client.get("/api/v1/runs").json()["results"]]


def test_an_editor_publishes_runs_and_deletes_only_their_own_runs(crew, team_flow, auth_client):
    client = auth_client(crew.editor)
    assert _publish(client).status_code == 201
    mine = client.post("/api/v1/runs", {"workflow": "acme/demo", "namespace": "acme"}, format="json").json()["id"]
    theirs = run_start(user=crew.admin, version=team_flow, namespace=crew.team).pk
    Run.objects.filter(pk__in=[mine, theirs]).update(status="succeeded")
    assert_error(client.delete(f"/api/v1/runs/{theirs}"), 403, "forbidden")
    assert client.delete(f"/api/v1/runs/{mine}").status_code == 200
    assert list(Run.objects.values_list("pk", flat=True)) == [theirs]


def test_an_admin_deletes_any_run_of_the_team(crew, team_flow, auth_client):
    run = run_start(user=crew.editor, version=team_flow, namespace=crew.team)
    Run.objects.filter(pk=run.pk).update(status="failed")
    assert auth_client(crew.admin).delete(f"/api/v1/runs/{run.pk}").status_code == 200


def test_a_member_who_leaves_loses_sight_of_the_runs_they_made(crew, team_flow, auth_client):
    run = run_start(user=crew.editor, version=team_flow, namespace=crew.team)
    client = auth_client(crew.editor)
    assert client.get(f"/api/v1/runs/{run.pk}").status_code == 200
    membership_remove(team=crew.team, user=crew.editor, actor=crew.admin)
    assert_error(client.get(f"/api/v1/runs/{run.pk}"), 404)
    assert_error(client.post(f"/api/v1/runs/{run.pk}/stop"), 404)


def test_a_personal_namespace_is_a_one_person_team(user, other_user, auth_client):
    version = publish(user, visibility="private")
    run = run_start(user=user, version=version)
    assert run.namespace.slug == "alice" and run.namespace.is_personal
    assert auth_client(user, scopes=["read", "admin"]).get("/api/v1/teams/alice").json()["role"] == "admin"
    assert_error(auth_client(other_user).get(f"/api/v1/runs/{run.pk}"), 404)
    assert_error(auth_client(other_user).get("/api/v1/teams/alice"), 404)
