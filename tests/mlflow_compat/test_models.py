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
