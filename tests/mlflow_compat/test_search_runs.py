"""search_runs: MLflow's filter and order_by translated to Flowdeck's query path, with paging
tokens and run view types; run delete and restore."""
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


@pytest.fixture
def five_runs(mlflow_env):
    experiment_id = mlflow.set_experiment("sweep").experiment_id
    ids = []
    for i in range(5):
        with mlflow.start_run(run_name=f"run-{i}") as run:
            mlflow.log_params({"lr": f"0.0{i}", "layers": str(2 + i % 2)})
            mlflow.log_metric("acc", 0.5 + i / 10)
            mlflow.set_tag("team", "cv" if i % 2 else "nlp")
        if i == 4:
            MlflowClient().set_terminated(run.info.run_id, status="FAILED")
        ids.append(run.info.run_id)
    return experiment_id, ids


def _ids(runs) -> list[str]:
    return [r.info.run_id for r in runs]


def test_it_filters_like_mlflow(five_runs):
    exp, ids = five_runs
    client = MlflowClient()
    assert set(_ids(client.search_runs([exp], "metrics.acc > 0.75"))) == {ids[3], ids[4]}
    assert _ids(client.search_runs([exp], "params.lr = '0.01' and tags.team = 'cv'")) == [ids[1]]
    assert _ids(client.search_runs([exp], "attributes.status = 'FAILED'")) == [ids[4]]
    assert _ids(client.search_runs([exp], "attributes.run_name = 'run-2'")) == [ids[2]]
    assert set(_ids(client.search_runs([exp], "tags.`mlflow.runName` LIKE 'run-%' and params.layers = '3'"))) == {ids[1], ids[3]}
    assert set(_ids(client.search_runs([exp], "params.lr IN ('0.00', '0.04')"))) == {ids[0], ids[4]}
    assert set(_ids(client.search_runs([exp], "tags.team != 'cv'"))) == {ids[0], ids[2], ids[4]}
    assert set(_ids(client.search_runs([exp], f"attributes.run_id IN ('{ids[0]}', '{ids[1]}')"))) == {ids[0], ids[1]}
    assert _ids(client.search_runs([exp], "metrics.acc >= 0.9 and attributes.status = 'FINISHED'")) == []
    started = client.get_run(ids[2]).info.start_time
    assert set(_ids(client.search_runs([exp], f"attributes.start_time >= {started}"))) == set(ids[2:])
    assert _ids(client.search_runs([exp], "attributes.start_time < 1000")) == []
    assert _ids(client.search_runs([exp], "attributes.user_id = 'alice'", order_by=["attributes.start_time ASC"])) == ids


def test_it_orders_and_pages(five_runs):
    exp, ids = five_runs
    client = MlflowClient()
    assert _ids(client.search_runs([exp], order_by=["metrics.acc DESC"])) == ids[::-1]
    assert _ids(client.search_runs([exp], order_by=["params.lr ASC"])) == ids
    assert _ids(client.search_runs([exp])) == ids[::-1]  # newest first, as MLflow
    seen, token = [], None
    while True:
        page = client.search_runs([exp], order_by=["metrics.acc ASC"], max_results=2, page_token=token)
        seen += _ids(page)
        token = page.token
        if not token:
            break
    assert seen == ids
    frame = mlflow.search_runs([exp], filter_string="metrics.acc < 0.65")
    assert sorted(frame["run_id"]) == sorted(ids[:2]) and set(frame["params.lr"]) == {"0.00", "0.01"}


def test_it_soft_deletes_and_restores_runs(five_runs):
    exp, ids = five_runs
    client = MlflowClient()
    client.delete_run(ids[0])
    assert ids[0] not in _ids(client.search_runs([exp]))
    assert _ids(client.search_runs([exp], run_view_type=ViewType.DELETED_ONLY)) == [ids[0]]
    assert len(client.search_runs([exp], run_view_type=ViewType.ALL)) == 5
    assert client.get_run(ids[0]).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as refused:
        client.log_metric(ids[0], "acc", 1.0)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    client.restore_run(ids[0])
    assert ids[0] in _ids(client.search_runs([exp]))


def test_it_refuses_a_bad_filter(five_runs):
    exp, _ = five_runs
    for bad in ("metrics.acc >", "acc > 1 or metrics.x < 2", "unknown.key = 'x'", "metrics.acc = 'high'"):
        with pytest.raises(MlflowException) as refused:
            MlflowClient().search_runs([exp], bad)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE", bad
