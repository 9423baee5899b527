"""Who may do what: a Flowdeck token as bearer or as the basic-auth password, the account
password, 401 without credentials, and Flowdeck's own permissions (another user's run is
404, a viewer may read a team's run but not log to it: 403)."""
import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.factories import PASSWORD, make_token, make_user


def test_it_needs_credentials(mlflow_env, monkeypatch):
    response = mlflow_env.call("GET", "experiments/get", token="", params={"experiment_id": "0"})
    assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHENTICATED"
    bad = mlflow_env.call("GET", "experiments/get", token="fdk_not-a-token", params={"experiment_id": "0"})
    assert bad.status_code == 401 and bad.json()["error_code"] == "UNAUTHENTICATED"
    # Health, version and server-info answer anyone, as MLflow's do.
    assert requests.get(f"{mlflow_env.url}/health", timeout=10).text == "OK"
    assert requests.get(f"{mlflow_env.url}/version", timeout=10).status_code == 200
    info = requests.get(f"{mlflow_env.url}/api/3.0/mlflow/server-info", timeout=10).json()
    assert info["multipart_uploads_enabled"] is True  # the test store is S3
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    with pytest.raises(MlflowException) as refused:
        MlflowClient().create_experiment("x")
    assert refused.value.error_code == "UNAUTHENTICATED"


@pytest.mark.parametrize("password", ["token", "account"])
def test_it_takes_basic_auth(mlflow_env, monkeypatch, password):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_env.token if password == "token" else PASSWORD)
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    assert MlflowClient().get_run(run.info.run_id).info.user_id == "alice"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mallory")  # a token is bound to its user
    with pytest.raises(MlflowException) as refused:
        MlflowClient().get_run(run.info.run_id)
    assert refused.value.error_code == "UNAUTHENTICATED"


def test_it_keeps_other_users_runs_out_of_reach(mlflow_env):
    mlflow.set_experiment("private")
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    bob = make_token(make_user("bob"))
    for method, route, kwargs in (("GET", "runs/get", {"params": {"run_id": run.info.run_id}}),
                                  ("POST", "runs/log-metric", {"json": {"run_id": run.info.run_id, "key": "x",
                                                                         "value": 2, "timestamp": 1, "step": 1}}),
                                  ("GET", "metrics/get-history", {"params": {"run_id": run.info.run_id, "metric_key": "x"}})):
        response = mlflow_env.call(method, route, token=bob, **kwargs)
        assert response.status_code == 404 and response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", route
    exp = MlflowClient().get_run(run.info.run_id).info.experiment_id
    searched = mlflow_env.call("POST", "runs/search", token=bob, json={"experiment_ids": [exp]})
    assert searched.status_code == 404  # alice's experiment is not bob's to see
    mine = mlflow_env.call("POST", "runs/search", token=bob, json={"experiment_ids": ["0"]}).json()
    assert mine.get("runs", []) == []  # bob's own "0" is his own Default
    artifact = requests.get(f"{mlflow_env.url}/api/2.0/mlflow-artifacts/artifacts/runs/{run.info.run_id}/artifacts/x",
                            headers={"Authorization": f"Bearer {bob}"}, timeout=10)
    assert artifact.status_code == 404


def test_it_lets_a_team_viewer_read_but_not_write(mlflow_env):
    from accounts.services import membership_set, team_create

    team = team_create(slug="vision", owner=mlflow_env.user)
    viewer = make_user("victor")
    membership_set(team=team, user=viewer, role="viewer")
    mlflow.set_experiment("vision/shared")
    with mlflow.start_run() as run:
        mlflow.log_metric("x", 1.0)
    token = make_token(viewer)
    seen = mlflow_env.call("GET", "runs/get", token=token, params={"run_id": run.info.run_id})
    assert seen.status_code == 200 and seen.json()["run"]["data"]["metrics"][0]["value"] == 1.0
    denied = mlflow_env.call("POST", "runs/log-metric", token=token,
                             json={"run_id": run.info.run_id, "key": "x", "value": 2, "timestamp": 1, "step": 1})
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    no_create = mlflow_env.call("POST", "runs/create", token=token,
                                json={"experiment_id": seen.json()["run"]["info"]["experiment_id"]})
    assert no_create.status_code == 403 and no_create.json()["error_code"] == "PERMISSION_DENIED"
    read_only = make_token(mlflow_env.user, scopes=["read"])
    refused = mlflow_env.call("POST", "runs/log-metric", token=read_only,
                              json={"run_id": run.info.run_id, "key": "x", "value": 2, "timestamp": 1, "step": 1})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"


def test_it_is_not_reachable_with_a_session_cookie(mlflow_env, client):
    # Session cookies are not credentials here, which is what makes the API safe without CSRF.
    client.force_login(mlflow_env.user)
    response = client.post("/mlflow/api/2.0/mlflow/experiments/create", {"name": "x"}, content_type="application/json")
    assert response.status_code == 401


def test_it_lets_a_run_scoped_token_log_to_its_own_run_only(mlflow_env, monkeypatch, tmp_path):
    # What a workflow step's code gets: a token for its run (FLOWDECK_TOKEN) and the run's id.
    from accounts.services import token_create_for_run
    from runs.services.tracked import run_create_tracked

    own = run_create_tracked(user=mlflow_env.user, experiment="steps", name="step-run")
    other = run_create_tracked(user=mlflow_env.user, experiment="steps", name="neighbour")
    _token, plaintext = token_create_for_run(user=mlflow_env.user, run_id=own.pk)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", plaintext)
    monkeypatch.setenv("MLFLOW_RUN_ID", str(own.pk))
    (tmp_path / "model.txt").write_text("weights")
    with mlflow.start_run():
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_param("lr", "0.1")
        mlflow.log_artifact(str(tmp_path / "model.txt"))
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)  # start_run takes it out itself
    got = MlflowClient().get_run(str(own.pk))
    assert got.data.metrics == {"loss": 0.5} and got.data.params == {"lr": "0.1"}
    assert [f.path for f in MlflowClient().list_artifacts(str(own.pk))] == ["model.txt"]
    elsewhere = mlflow_env.call("GET", "runs/get", token=plaintext, params={"run_id": str(other.pk)})
    assert elsewhere.status_code == 404
    create = mlflow_env.call("POST", "experiments/create", token=plaintext, json={"name": "x"})
    assert create.status_code == 403 and create.json()["error_code"] == "PERMISSION_DENIED"


def test_it_lets_a_workflow_step_log_with_mlflow(mlflow_env, monkeypatch):
    from django.utils import timezone

    from accounts.step_tokens import step_token_issue
    from runs.models import Metric, Run, StepRun, StepStatus
    from runs.services.lifecycle import run_start
    from tests.factories import publish

    run = run_start(user=mlflow_env.user, version=publish(mlflow_env.user))
    step = run.steps.order_by("position").first()
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, attempt=1, started_at=timezone.now())
    Run.objects.filter(pk=run.pk).update(status="running")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", step_token_issue(step_run_id=step.pk, attempt=1))
    monkeypatch.setenv("MLFLOW_RUN_ID", str(run.pk))
    with mlflow.start_run():
        mlflow.log_metrics({"loss": 0.5, "acc": 0.9}, step=3)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    assert Run.objects.get(pk=run.pk).status == "running"  # end_run left it to the steps
    assert set(Metric.objects.filter(run=run).values_list("key", "origin")) == {("loss", step.pk), ("acc", step.pk)}
    got = MlflowClient().get_run(str(run.pk))
    assert got.data.metrics == {"loss": 0.5, "acc": 0.9} and got.data.tags["flowdeck.workflow"].endswith("@1.0.0")
