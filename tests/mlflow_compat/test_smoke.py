import mlflow
from mlflow import MlflowClient


def test_it_logs_a_run(mlflow_env, tmp_path):
    mlflow.set_experiment("smoke")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_metric("loss", 1.5, step=0)
        mlflow.log_metrics({"loss": 1.0, "acc": 0.5}, step=1)
        mlflow.set_tag("team", "cv")
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "a.txt").write_text("hello")
        mlflow.log_artifacts(str(tmp_path / "out"), artifact_path="out")
    client = MlflowClient()
    got = client.get_run(run.info.run_id)
    print(got)
    assert got.data.params == {"lr": "0.01"}
    assert got.data.metrics == {"loss": 1.0, "acc": 0.5}
    hist = client.get_metric_history(run.info.run_id, "loss")
    assert [m.value for m in hist] == [1.5, 1.0]
    print(client.list_artifacts(run.info.run_id, "out"))
    path = client.download_artifacts(run.info.run_id, "out", str(tmp_path / "dl"))
    print(path)
