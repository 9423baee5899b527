"""MLflow's error semantics exactly: the body, the codes and statuses, param immutability,
the log-batch limits, int64 values as JSON numbers."""
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException


def _body(response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["message"]
    return body


def test_it_answers_missing_things_with_mlflow_404s(mlflow_env):
    response = mlflow_env.call("GET", "experiments/get-by-name", params={"experiment_name": "nope"})
    assert response.status_code == 404 and _body(response)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert MlflowClient().get_experiment_by_name("nope") is None  # how the client reads that 404
    for route, params in (("runs/get", {"run_id": "424242"}), ("runs/get", {"run_id": "not-a-run"}),
                          ("experiments/get", {"experiment_id": "31337"}),
                          ("metrics/get-history", {"run_id": "424242", "metric_key": "x"}),
                          ("registered-models/get", {"name": "nope"})):
        response = mlflow_env.call("GET", route, params=params)
        assert response.status_code == 404 and _body(response)["error_code"] == "RESOURCE_DOES_NOT_EXIST", route
    response = mlflow_env.call("GET", "no/such/endpoint")
    assert response.status_code == 404 and _body(response)["error_code"] == "ENDPOINT_NOT_FOUND"


def test_it_keeps_params_immutable(mlflow_env):
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("lr", "0.2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    response = mlflow_env.call("POST", "runs/log-parameter", json={"run_id": run.info.run_id, "key": "lr", "value": "0.3"})
    assert response.status_code == 400 and _body(response)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_it_enforces_the_batch_limits(mlflow_env):
    with mlflow.start_run() as run:
        run_id = run.info.run_id
    now = int(time.time() * 1000)
    cases = {
        "metrics": [{"key": "m", "value": 1.0, "timestamp": now, "step": i} for i in range(1001)],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(101)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(101)],
    }
    for field, items in cases.items():
        response = mlflow_env.call("POST", "runs/log-batch", json={"run_id": run_id, field: items})
        assert response.status_code == 400 and _body(response)["error_code"] == "INVALID_PARAMETER_VALUE", field
    both = {"metrics": cases["metrics"][:950], "params": cases["params"][:60]}
    assert mlflow_env.call("POST", "runs/log-batch", json={"run_id": run_id, **both}).status_code == 400
    ok = {"metrics": cases["metrics"][:1000], "params": cases["params"][:100], "tags": cases["tags"][:100]}
    ok["metrics"] = ok["metrics"][:800]
    assert mlflow_env.call("POST", "runs/log-batch", json={"run_id": run_id, **{k: ok[k] for k in ("metrics", "params")}}).status_code == 200
    client = MlflowClient()
    client.log_batch(run_id, metrics=[Metric("n", float(i), now, i) for i in range(1000)],
                     params=[Param("q", "1")], tags=[RunTag("t", "x")])
    assert len(client.get_metric_history(run_id, "n")) == 1000
    # Nothing of a refused batch is stored: the bad one above had 1,001 points of "m".
    assert len(client.get_metric_history(run_id, "m")) == 800


def test_it_writes_int64_as_json_numbers(mlflow_env):
    with mlflow.start_run() as run:
        mlflow.log_metric("big", 1.5, step=2**40, timestamp=2**42)
    raw = mlflow_env.call("GET", "runs/get", params={"run_id": run.info.run_id}).json()["run"]
    info, metric = raw["info"], raw["data"]["metrics"][0]
    assert isinstance(info["start_time"], int) and isinstance(info["end_time"], int)
    assert (metric["step"], metric["timestamp"]) == (2**40, 2**42)
    history = mlflow_env.call("GET", "metrics/get-history", params={"run_id": run.info.run_id, "metric_key": "big"}).json()
    assert history["metrics"] == [{"key": "big", "value": 1.5, "timestamp": 2**42, "step": 2**40}]


def test_it_pages_metric_history_and_samples_intervals(mlflow_env):
    client = MlflowClient()
    with mlflow.start_run() as run:
        client.log_batch(run.info.run_id, metrics=[Metric("loss", 1 / (i + 1), 1000 + i, i) for i in range(250)])
    page = mlflow_env.call("GET", "metrics/get-history", params={"run_id": run.info.run_id, "metric_key": "loss",
                                                                  "max_results": 100}).json()
    assert [m["step"] for m in page["metrics"]] == list(range(100)) and page["next_page_token"]
    rest = mlflow_env.call("GET", "metrics/get-history", params={
        "run_id": run.info.run_id, "metric_key": "loss", "max_results": 200, "page_token": page["next_page_token"]}).json()
    assert [m["step"] for m in rest["metrics"]] == list(range(100, 250)) and "next_page_token" not in rest
    bulk = mlflow_env.call("GET", "metrics/get-history-bulk-interval", params={
        "run_ids": [run.info.run_id], "metric_key": "loss", "max_results": 50}).json()["metrics"]
    assert 2 <= len(bulk) <= 50 and bulk[0]["step"] == 0 and bulk[-1]["step"] == 249
    assert {m["run_id"] for m in bulk} == {run.info.run_id}
    ranged = mlflow_env.call("GET", "metrics/get-history-bulk-interval", params={
        "run_ids": [run.info.run_id], "metric_key": "loss", "start_step": 10, "end_step": 19, "max_results": 5}).json()
    assert [m["step"] for m in ranged["metrics"]] == [10, 12, 14, 17, 19]


def test_a_nan_metric_does_not_stop_the_script(mlflow_env):
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", float("nan"), step=0)
        mlflow.log_metrics({"loss": 0.5, "acc": float("inf")}, step=1)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.metrics == {"loss": 0.5}
    assert got.data.tags["flowdeck.nonfinite_dropped"] == "acc,loss"
