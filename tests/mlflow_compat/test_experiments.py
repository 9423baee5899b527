"""Experiments through the real client: create, get, get-by-name, search, rename, delete,
restore, tags, and the Default experiment "0"."""
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def test_it_has_a_default_experiment(mlflow_env):
    default = MlflowClient().get_experiment("0")
    assert (default.experiment_id, default.name, default.lifecycle_stage) == ("0", "Default", "active")
    assert MlflowClient().get_experiment_by_name("Default").experiment_id == "0"
    with mlflow.start_run() as run:  # no experiment set: MLflow logs to "0"
        mlflow.log_metric("x", 1)
    assert MlflowClient().get_run(run.info.run_id).info.experiment_id == "0"


def test_it_manages_experiments(mlflow_env):
    client = MlflowClient()
    exp_id = client.create_experiment("exp-a", tags={"owner": "alice"})
    got = client.get_experiment(exp_id)
    assert got.name == "exp-a" and got.tags == {"owner": "alice"} and got.creation_time > 0
    assert client.get_experiment_by_name("exp-a").experiment_id == exp_id
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.delete_experiment_tag(exp_id, "owner")
    assert client.get_experiment(exp_id).tags == {"stage": "dev"}
    client.rename_experiment(exp_id, "exp-b")
    assert client.get_experiment(exp_id).name == "exp-b"
    assert client.get_experiment_by_name("exp-a") is None
    client.create_experiment("other")
    names = {e.name for e in client.search_experiments()}
    assert names == {"Default", "exp-b", "other"}
    assert [e.name for e in client.search_experiments(filter_string="name LIKE 'exp%'")] == ["exp-b"]
    assert [e.name for e in client.search_experiments(filter_string="tags.stage = 'dev'")] == ["exp-b"]
    assert [e.name for e in client.search_experiments(order_by=["name ASC"], max_results=2)] == ["Default", "exp-b"]
    since = client.get_experiment(exp_id).creation_time
    assert "exp-b" in {e.name for e in client.search_experiments(filter_string=f"creation_time >= {since}")}
    assert client.search_experiments(filter_string=f"creation_time < {since}") == []
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "exp-b" not in {e.name for e in client.search_experiments()}
    assert [e.name for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)] == ["exp-b"]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_it_refuses_duplicates_and_unknown_ids(mlflow_env):
    client = MlflowClient()
    client.create_experiment("dup")
    with pytest.raises(MlflowException) as exists:
        client.create_experiment("dup")
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_experiment("987654")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as default:
        client.delete_experiment("0")
    assert default.value.error_code == "INVALID_PARAMETER_VALUE"


def test_it_puts_team_experiments_in_the_team(mlflow_env):
    from accounts.services import team_create
    from runs.models import Experiment

    team = team_create(slug="vision", owner=mlflow_env.user)
    mlflow.set_experiment("vision/detector")
    with mlflow.start_run():
        mlflow.log_param("k", "v")
    assert Experiment.objects.get(name="detector").namespace == team
    assert MlflowClient().get_experiment_by_name("vision/detector").name == "vision/detector"
