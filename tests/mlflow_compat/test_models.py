"""Logged models and the registry, through the real client: ``mlflow.pyfunc.log_model`` then
``load_model`` round-trips, by run URI, by model id and through a registered model's alias."""
import mlflow
import mlflow.pyfunc
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return [x + self.n for x in model_input]


def test_it_round_trips_a_pyfunc_model(mlflow_env):
    mlflow.set_experiment("models")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="adder", python_model=AddN(3))
    assert info.model_id.startswith("m-")
    for uri in (f"runs:/{run.info.run_id}/adder", f"models:/{info.model_id}", info.model_uri):
        loaded = mlflow.pyfunc.load_model(uri)
        assert list(loaded.predict([1, 2])) == [4, 5]
    model = MlflowClient().get_logged_model(info.model_id)
    assert model.status == "READY" and model.source_run_id == run.info.run_id
    found = MlflowClient().search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'adder'")
    assert [m.model_id for m in found] == [info.model_id]


def test_it_registers_versions_with_aliases_and_tags(mlflow_env):
    client = MlflowClient()
    mlflow.set_experiment("registry")
    with mlflow.start_run():
        # Requirements given, so the client skips inferring them (seconds per model, all client-side).
        first = mlflow.pyfunc.log_model(name="m", python_model=AddN(1), registered_model_name="adder",
                                        pip_requirements=["cloudpickle"])
        second = mlflow.pyfunc.log_model(name="m", python_model=AddN(2), registered_model_name="adder",
                                         pip_requirements=["cloudpickle"])
    assert client.get_registered_model("adder").name == "adder"
    versions = sorted(int(v.version) for v in client.search_model_versions("name = 'adder'"))
    assert versions == [1, 2]
    # The client's ModelVersion does not read model_id back; the source names the model.
    assert client.get_model_version("adder", "1").source == f"models:/{first.model_id}"
    client.set_registered_model_alias("adder", "champion", "2")
    client.set_registered_model_tag("adder", "owner", "alice")
    client.set_model_version_tag("adder", "2", "validated", "yes")
    version = client.get_model_version_by_alias("adder", "champion")
    assert version.version == "2" and version.tags == {"validated": "yes"} and version.source == f"models:/{second.model_id}"
    assert client.get_registered_model("adder").tags == {"owner": "alice"}
    assert client.get_registered_model("adder").aliases == {"champion": "2"}
    assert list(mlflow.pyfunc.load_model("models:/adder@champion").predict([10])) == [12]
    assert list(mlflow.pyfunc.load_model("models:/adder/1").predict([10])) == [11]
    assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'add%'")] == ["adder"]
    client.delete_registered_model_alias("adder", "champion")
    with pytest.raises(MlflowException) as missing:
        client.get_model_version_by_alias("adder", "champion")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exists:
        client.create_registered_model("adder")
    assert exists.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_it_edits_renames_and_deletes_registry_entries(mlflow_env):
    client = MlflowClient()
    client.create_registered_model("churn", tags={"team": "cv"}, description="first")
    client.update_registered_model("churn", description="second")
    with mlflow.start_run() as run:
        mlflow.log_text("w", "model/weights.txt")
    source = f"{run.info.artifact_uri}/model"
    v1 = client.create_model_version("churn", source, run_id=run.info.run_id)
    v2 = client.create_model_version("churn", source, run_id=run.info.run_id, description="better")
    assert (v1.version, v2.version, v2.run_id) == ("1", "2", run.info.run_id)
    client.update_model_version("churn", "2", description="best")
    client.transition_model_version_stage("churn", "2", "Production")
    assert client.get_model_version("churn", "2").current_stage == "Production"
    assert client.get_model_version_download_uri("churn", "1") == source
    assert [v.version for v in client.get_latest_versions("churn", stages=["Production"])] == ["2"]
    client.rename_registered_model("churn", "churn-v2")
    model = client.get_registered_model("churn-v2")
    assert (model.description, model.tags) == ("second", {"team": "cv"})
    client.delete_model_version("churn-v2", "1")
    assert [v.version for v in client.search_model_versions("name = 'churn-v2'")] == ["2"]
    assert mlflow.artifacts.load_text(client.get_model_version_download_uri("churn-v2", "2") + "/weights.txt") == "w"
    client.delete_registered_model("churn-v2")
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("churn-v2")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_it_tags_and_deletes_logged_models(mlflow_env):
    client = MlflowClient()
    experiment_id = mlflow.set_experiment("logged").experiment_id
    model = client.create_logged_model(experiment_id, name="plain", params={"depth": "3"}, tags={"a": "1"})
    client.set_logged_model_tags(model.model_id, {"b": "2"})
    client.delete_logged_model_tag(model.model_id, "a")
    got = client.get_logged_model(model.model_id)
    assert (got.tags, got.params, got.status) == ({"b": "2"}, {"depth": "3"}, "PENDING")
    client.finalize_logged_model(model.model_id, "READY")
    assert client.get_logged_model(model.model_id).status == "READY"
    client.delete_logged_model(model.model_id)
    with pytest.raises(MlflowException) as gone:
        client.get_logged_model(model.model_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
