"""Tracked runs (outside workflows): POST /api/v1/experiments/runs, POST /api/v1/runs/<id>/end,
GET /api/v1/experiments, read back through the run API."""
from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.services import membership_set, team_create, token_create_for_run
from runs.models import Experiment, Run
from runs.services.lifecycle import run_start
from tests.factories import assert_error, make_user, publish

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/experiments/runs"


def end_url(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}/end"


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def test_it_creates_a_running_run_in_a_new_experiment(client, user):
    response = client.post(CREATE, {"experiment": "churn", "name": "baseline", "tags": {"team": "ml", "n": 3}}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "running"
    assert body["started_at"] and body["finished_at"] is None
    assert (body["experiment"], body["name"], body["namespace"], body["workflow"]) == ("churn", "baseline", "alice", None)
    assert body["tags"] == {"team": "ml", "n": "3"}
    assert body["steps"] == []

    read = client.get(f"/api/v1/runs/{body['id']}").json()
    assert (read["status"], read["experiment"], read["tags"]) == ("running", "churn", {"team": "ml", "n": "3"})
    run = Run.objects.get(pk=body["id"])
    assert run.asset_version_id is None and run.experiment.namespace.slug == "alice"


def test_it_reuses_the_experiment_by_name(client):
    first = client.post(CREATE, {"experiment": "churn"}, format="json").json()
    second = client.post(CREATE, {"experiment": "churn", "name": "again"}, format="json").json()
    assert first["id"] != second["id"]
    assert Experiment.objects.filter(name="churn").count() == 1
    runs = client.get("/api/v1/runs", {"experiment": "churn"}).json()["results"]
    assert [r["id"] for r in runs] == [second["id"], first["id"]]


def test_it_logs_to_a_tracked_run_and_ends_it(client):
    run_id = client.post(CREATE, {"experiment": "churn"}, format="json").json()["id"]
    response = client.post(f"/api/v1/runs/{run_id}/log-batch",
                           {"metrics": [{"key": "loss", "value": 0.5, "step": 0}, {"key": "loss", "value": 0.25, "step": 1}],
                            "params": {"lr": 0.1}}, format="json")
    assert response.status_code == 200, response.content

    ended = client.post(end_url(run_id), {"status": "failed", "error": "ValueError: boom"}, format="json")
    assert ended.status_code == 200, ended.content
    assert (ended.json()["status"], ended.json()["error"]) == ("failed", "ValueError: boom")

    read = client.get(f"/api/v1/runs/{run_id}").json()
    assert read["status"] == "failed" and read["finished_at"] and read["duration_s"] is not None
    assert read["logged_params"] == {"lr": "0.1"}
    assert [(m["key"], m["last"], m["count"]) for m in read["metrics"]] == [("loss", 0.25, 2)]


def test_it_refuses_to_end_a_run_twice(client):
    run_id = client.post(CREATE, {"experiment": "churn"}, format="json").json()["id"]
    assert client.post(end_url(run_id), {"status": "succeeded"}, format="json").status_code == 200
    assert_error(client.post(end_url(run_id), {"status": "stopped"}, format="json"), 409, "conflict")
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded"


def test_it_refuses_to_end_a_workflow_run(client, user):
    run = run_start(user=user, version=publish(user))
    assert_error(client.post(end_url(run.pk), {"status": "succeeded"}, format="json"), 409, "not_tracked")
    run.refresh_from_db()
    assert run.status == "queued"


def test_it_refuses_an_unknown_status(client):
    run_id = client.post(CREATE, {"experiment": "churn"}, format="json").json()["id"]
    assert_error(client.post(end_url(run_id), {"status": "running"}, format="json"), 400, "invalid", "status")
    assert_error(client.post(end_url(run_id), {}, format="json"), 400, "invalid", "status")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "experiment"),
        ({"experiment": "  "}, "experiment"),
        ({"experiment": "x" * 201}, "experiment"),
        ({"experiment": "churn", "name": "n" * 201}, "name"),
        ({"experiment": "churn", "tags": {"": "v"}}, "tags"),
        ({"experiment": "churn", "tags": {"k": "v" * 6001}}, "tags"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(client, body, field):
    assert_error(client.post(CREATE, body, format="json"), 400, "invalid", field)
    assert Run.objects.count() == 0 and Experiment.objects.count() == 0


def test_it_tracks_into_a_team_namespace_only_with_write_access(client, user, other_user, auth_client):
    team = team_create(slug="acme", owner=other_user)
    assert_error(client.post(CREATE, {"experiment": "churn", "namespace": "acme"}, format="json"), 403, "forbidden")
    membership_set(team=team, user=user, role=Membership.Role.VIEWER)
    assert_error(client.post(CREATE, {"experiment": "churn", "namespace": "acme"}, format="json"), 403, "forbidden")
    membership_set(team=team, user=user, role=Membership.Role.EDITOR)
    response = client.post(CREATE, {"experiment": "churn", "namespace": "acme"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["namespace"] == "acme"
    assert_error(client.post(CREATE, {"experiment": "churn", "namespace": "nope"}, format="json"), 404, "not_found", "namespace")


def test_other_users_cannot_see_or_end_a_run(client, other_user, auth_client):
    run_id = client.post(CREATE, {"experiment": "churn"}, format="json").json()["id"]
    bob = auth_client(other_user)
    assert_error(bob.post(end_url(run_id), {"status": "succeeded"}, format="json"), 404, "not_found")
    assert bob.get("/api/v1/experiments").json()["results"] == []
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"


def test_it_needs_a_write_scope_and_refuses_run_tokens(user, auth_client):
    assert_error(auth_client(user, scopes=["read"]).post(CREATE, {"experiment": "churn"}, format="json"), 403)
    run = run_start(user=user, version=publish(user))
    _token, plaintext = token_create_for_run(user=user, run_id=run.pk)
    assert_error(auth_client(user, token=plaintext).post(CREATE, {"experiment": "churn"}, format="json"), 403)


def test_it_lists_visible_experiments_with_counts(client, user, other_user, auth_client):
    client.post(CREATE, {"experiment": "churn"}, format="json")
    client.post(CREATE, {"experiment": "churn"}, format="json")
    client.post(CREATE, {"experiment": "fraud"}, format="json")
    auth_client(other_user).post(CREATE, {"experiment": "secret"}, format="json")
    team = team_create(slug="acme", owner=other_user)
    auth_client(other_user).post(CREATE, {"experiment": "shared", "namespace": "acme"}, format="json")
    membership_set(team=team, user=user, role=Membership.Role.VIEWER)

    body = client.get("/api/v1/experiments").json()
    got = {(e["namespace"], e["name"]): e["run_count"] for e in body["results"]}
    assert got == {("alice", "churn"): 2, ("alice", "fraud"): 1, ("acme", "shared"): 1}
    assert body["results"][0]["name"] == "shared"  # most recently used first
    assert all(e["last_run_at"] for e in body["results"])


def test_anonymous_users_get_401(api_client):
    assert_error(api_client.post(CREATE, {"experiment": "churn"}, format="json"), 401, "not_authenticated")
    assert_error(api_client.get("/api/v1/experiments"), 401, "not_authenticated")


def test_the_schema_documents_the_new_endpoints(api_client):
    paths = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    for path in ("/api/v1/experiments", "/api/v1/experiments/runs", "/api/v1/runs/{run_id}/end",
                 "/api/v1/runs/{run_id}/artifacts/multipart", "/api/v1/runs/{run_id}/artifacts/multipart/complete"):
        assert "post" in paths[path] or "get" in paths[path], path


def test_a_second_user_in_the_team_shares_the_experiment(user, other_user, auth_client):
    team = team_create(slug="acme", owner=user)
    carol = make_user("carol")
    membership_set(team=team, user=carol, role=Membership.Role.EDITOR)
    a = auth_client(user).post(CREATE, {"experiment": "churn", "namespace": "acme"}, format="json").json()
    c = auth_client(carol).post(CREATE, {"experiment": "churn", "namespace": "acme"}, format="json").json()
    assert Experiment.objects.filter(namespace=team).count() == 1
    # Editors of the namespace may end each other's runs, as with workflow runs.
    assert auth_client(carol).post(end_url(a["id"]), {"status": "stopped"}, format="json").status_code == 200
    assert c["experiment"] == "churn"
