"""POST /api/v1/runs: parameters are checked against the spec before anything is created."""
from __future__ import annotations

import pytest

from runs.models import Run, StepRun
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db

URL = "/api/v1/runs"
# Declared out of dependency order on purpose: steps must come back topologically sorted.
SPEC = make_spec(
    name="shuffled",
    params=[
        {"name": "n", "type": "int", "default": 3, "min": 1},
        {"name": "lr", "type": "float", "default": 0.1},
        {"name": "opt", "type": "enum", "choices": ["adam", "sgd"], "default": "adam"},
        {"name": "verbose", "type": "bool", "default": False},
        {"name": "layers", "type": "list"},
    ],
    steps=[
        {"name": "report", "fn": "workflow:c", "depends_on": ["train"], "inputs": {"y": "train.y"}},
        {"name": "load", "fn": "workflow:a", "outputs": ["x"]},
        {"name": "train", "fn": "workflow:b", "depends_on": ["load"], "inputs": {"x": "load.x", "n": "params.n"}, "outputs": ["y"]},
    ],
)


@pytest.fixture
def client(user, auth_client):
    publish(user, spec=SPEC)
    return auth_client(user)


def test_it_starts_a_run_with_coerced_params_and_pending_steps(client, user):
    response = client.post(
        URL,
        {"workflow": "alice/shuffled", "params": {"n": "5", "lr": "0.5", "verbose": "true", "layers": "64,32"}, "name": "first"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["workflow"] == "alice/shuffled" and body["version"] == "1.0.0"
    assert body["name"] == "first"
    assert body["status"] == "queued"
    assert body["created_by"] == "alice" and body["namespace"] == "alice"
    assert body["params"] == {"n": 5, "lr": 0.5, "opt": "adam", "verbose": True, "layers": ["64", "32"]}
    assert [(s["name"], s["status"], s["attempt"]) for s in body["steps"]] == [
        ("load", "pending", 0), ("train", "pending", 0), ("report", "pending", 0),
    ]
    run = Run.objects.get(pk=body["id"])
    assert run.params["n"] == 5
    assert list(StepRun.objects.filter(run=run).values_list("name", "position")) == [("load", 0), ("train", 1), ("report", 2)]

    again = client.get(f"{URL}/{run.pk}")
    assert again.status_code == 200 and again.json()["params"] == body["params"]
    listed = client.get(URL, {"workflow": "alice/shuffled"})
    assert [r["id"] for r in listed.json()["results"]] == [run.pk]


def test_it_uses_the_defaults(client):
    body = client.post(URL, {"workflow": "alice/shuffled"}, format="json").json()
    assert body["params"] == {"n": 3, "lr": 0.1, "opt": "adam", "verbose": False, "layers": None}


def test_it_runs_a_pinned_version(client, user):
    publish(user, spec=SPEC, version="1.1.0")
    assert client.post(URL, {"workflow": "alice/shuffled"}, format="json").json()["version"] == "1.1.0"
    assert client.post(URL, {"workflow": "alice/shuffled@1.0.0"}, format="json").json()["version"] == "1.0.0"


def test_it_names_an_unknown_param(client):
    error = assert_error(client.post(URL, {"workflow": "alice/shuffled", "params": {"nn": 1}}, format="json"), 400, "invalid", "params.nn")
    assert "nn" in error["message"]
    assert not Run.objects.exists() and not StepRun.objects.exists()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"n": "three"}, "params.n"),
        ({"n": 1.5}, "params.n"),
        ({"n": 0}, "params.n"),
        ({"lr": "fast"}, "params.lr"),
        ({"opt": "rmsprop"}, "params.opt"),
        ({"verbose": "maybe"}, "params.verbose"),
        ({"layers": 5}, "params.layers"),
    ],
)
def test_it_names_a_param_of_the_wrong_type(client, params, field):
    error = assert_error(client.post(URL, {"workflow": "alice/shuffled", "params": params}, format="json"), 400, "invalid", field)
    assert field.split(".")[1] in error["message"]
    assert not Run.objects.exists()


def test_it_refuses_params_that_are_not_an_object(client):
    assert_error(client.post(URL, {"workflow": "alice/shuffled", "params": [1, 2]}, format="json"), 400, "invalid", "params")
    assert not Run.objects.exists()


@pytest.mark.parametrize("ref", ["shuffled", "alice/", "alice/shuffled/x"])
def test_it_refuses_a_malformed_workflow_reference(client, ref):
    assert_error(client.post(URL, {"workflow": ref}, format="json"), 400, "invalid", "asset")


def test_it_answers_404_for_a_missing_workflow_or_version(client):
    assert_error(client.post(URL, {"workflow": "alice/nothing"}, format="json"), 404, "not_found")
    assert_error(client.post(URL, {"workflow": "alice/shuffled@9.0.0"}, format="json"), 404, "not_found", "version")
    assert not Run.objects.exists()


def test_it_hides_runs_of_others(client, other_user, auth_client):
    run_id = client.post(URL, {"workflow": "alice/shuffled"}, format="json").json()["id"]
    bob = auth_client(other_user)
    assert_error(bob.get(f"{URL}/{run_id}"), 404, "not_found")
    assert bob.get(URL).json()["results"] == []


def test_it_runs_someone_elses_public_workflow_in_my_namespace(client, other_user, auth_client):
    response = auth_client(other_user).post(URL, {"workflow": "alice/shuffled"}, format="json")
    assert response.status_code == 201
    assert response.json()["namespace"] == "bob" and response.json()["created_by"] == "bob"


def test_it_refuses_to_run_a_yanked_version(client, user):
    from django.utils import timezone

    from registry.models import AssetVersion

    AssetVersion.objects.update(yanked_at=timezone.now(), yank_reason="broken")
    error = assert_error(client.post(URL, {"workflow": "alice/shuffled@1.0.0"}, format="json"), 400, "invalid", "version")
    assert "broken" in error["message"]
