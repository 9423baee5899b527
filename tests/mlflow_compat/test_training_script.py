"""A training script written for MLflow, unchanged, logging to Flowdeck: params, a metric over
1,000 steps, tags and an artifact folder; read back with the client, and seen in Flowdeck's
own runs table, API and run page. And the reverse: a Flowdeck run read with MlflowClient."""
import filecmp
import math

import mlflow
from mlflow import MlflowClient

from runs.models import Metric, MetricSummary, Run, RunParam

STEPS = 1000


def train(out_dir, steps: int = STEPS, *, synchronous: bool = False) -> str:
    """What an MLflow user's script does. By default metrics go through the client's
    asynchronous logging (``MLFLOW_ENABLE_ASYNC_LOGGING``), which groups them into log-batch
    requests; ``synchronous`` sends one request per step."""
    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_params({"lr": 0.01, "epochs": 3, "optimizer": "adam"})
        mlflow.set_tags({"team": "cv", "stage": "dev"})
        for step in range(steps):
            mlflow.log_metrics({"loss": 1 / (step + 1), "acc": 1 - math.exp(-step / 100)}, step=step,
                               synchronous=synchronous)
        (out_dir / "plots").mkdir(parents=True)
        (out_dir / "report.txt").write_text("final loss 0.001\n")
        (out_dir / "plots" / "curve.csv").write_text("\n".join(f"{i},{1 / (i + 1)}" for i in range(steps)))
        (out_dir / "weights.bin").write_bytes(bytes(range(256)) * 400)
        mlflow.log_artifacts(str(out_dir), artifact_path="outputs")
    return run.info.run_id


def test_it_stores_and_reads_back_a_training_script(mlflow_env, tmp_path):
    run_id = train(tmp_path / "out")
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "baseline" and run.info.user_id == "alice"
    assert run.data.params == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
    assert run.data.tags["team"] == "cv" and run.data.tags["mlflow.runName"] == "baseline"
    assert run.data.metrics["loss"] == 1 / STEPS
    assert run.info.end_time >= run.info.start_time > 0

    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(STEPS))
    assert [m.value for m in history] == [1 / (s + 1) for s in range(STEPS)]
    assert all(isinstance(m.timestamp, int) and m.timestamp > 0 for m in history)

    names = sorted(f.path for f in client.list_artifacts(run_id, "outputs"))
    assert names == ["outputs/plots", "outputs/report.txt", "outputs/weights.bin"]
    local = client.download_artifacts(run_id, "outputs", str(tmp_path / "download"))
    assert filecmp.cmp(f"{local}/weights.bin", tmp_path / "out" / "weights.bin", shallow=False)
    assert (tmp_path / "download" / "outputs" / "plots" / "curve.csv").read_text() == \
        (tmp_path / "out" / "plots" / "curve.csv").read_text()
    one = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="outputs/report.txt", dst_path=str(tmp_path / "one"))
    assert open(one).read() == "final loss 0.001\n"

    # Stored as Flowdeck's own rows, through its ingest path.
    stored = Run.objects.get(pk=int(run_id))
    assert stored.status == "succeeded" and stored.experiment.name == "churn" and stored.created_by == mlflow_env.user
    assert Metric.objects.filter(run=stored, key="loss").count() == STEPS
    summary = MetricSummary.objects.get(run=stored, key="loss")
    assert (summary.count, summary.min, summary.last_step) == (STEPS, 1 / STEPS, STEPS - 1)
    assert dict(RunParam.objects.filter(run=stored).values_list("key", "value"))["lr"] == "0.01"
    assert stored.artifacts.filter(path="outputs/plots/curve.csv").exists()


def test_it_shows_mlflow_runs_in_flowdeck(mlflow_env, tmp_path, client):
    run_id = train(tmp_path / "out", steps=50, synchronous=True)
    other = train(tmp_path / "out2", steps=20, synchronous=True)
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mlflow_env.token}")
    table = api.get("/api/v1/runs", {"experiment": "churn", "columns": "name,params.lr,metrics.loss,tags.team",
                                     "q": "metrics.loss < 0.03"}).json()
    assert [r["id"] for r in table["results"]] == [int(run_id)]
    row = table["results"][0]
    assert row["values"]["params.lr"] == "0.01" and row["values"]["tags.team"] == "cv"
    detail = api.get(f"/api/v1/runs/{run_id}").json()
    assert detail["status"] == "succeeded"
    client.force_login(mlflow_env.user)
    page = client.get(f"/runs/{run_id}/")
    assert page.status_code == 200 and b"baseline" in page.content and b"outputs/report.txt" in page.content
    listing = client.get("/runs/", {"experiment": "churn"})
    assert listing.status_code == 200 and f"/runs/{other}/".encode() in listing.content

    # The compare view takes MLflow-logged runs like any others: params, series and values.
    body = api.get("/api/v1/compare", {"runs": f"{run_id},{other}"}).json()
    assert [r["id"] for r in body["runs"]] == [int(run_id), int(other)]
    loss = next(r for r in body["metrics"]["table"] if r["key"] == "loss")
    assert loss["last"] == [1 / 50, 1 / 20] and loss["last_step"] == [49, 19]
    assert [len(s["step"]) for s in body["series"]["loss"]] == [50, 20]
    page = client.get("/compare/", {"runs": f"{run_id},{other}"})
    assert page.status_code == 200 and b"baseline" in page.content


def test_it_reads_a_flowdeck_run_with_mlflow_client(mlflow_env):
    from runs.services.tracked import run_create_tracked, run_end
    from runs.services.tracking import log_batch

    run = run_create_tracked(user=mlflow_env.user, experiment="native", name="sdk-run", tags={"source": "flowdeck"})
    log_batch(run=run, metrics={"loss": {"value": [0.9, 0.5, 0.25], "step": [0, 1, 2]}}, params={"depth": "6"})
    run_end(user=mlflow_env.user, run=run, status="failed", error="diverged")
    got = MlflowClient().get_run(str(run.pk))
    assert got.info.status == "FAILED" and got.info.run_name == "sdk-run"
    assert got.data.metrics == {"loss": 0.25} and got.data.params == {"depth": "6"}
    assert got.data.tags["source"] == "flowdeck"
    assert [m.value for m in MlflowClient().get_metric_history(str(run.pk), "loss")] == [0.9, 0.5, 0.25]
    experiment = MlflowClient().get_experiment(got.info.experiment_id)
    assert experiment.name == "native"
    found = MlflowClient().search_runs([got.info.experiment_id], "params.depth = '6'")
    assert [r.info.run_id for r in found] == [str(run.pk)]


def test_it_sends_the_clients_view_links_to_flowdeck_pages(mlflow_env, client):
    with mlflow.start_run() as run:
        pass
    client.force_login(mlflow_env.user)
    page = client.get("/mlflow/")
    assert page.status_code == 200 and b"window.location.replace" in page.content and b'"/runs/"' in page.content
    mlflow.set_experiment("linked")
    experiment_id = MlflowClient().get_experiment_by_name("linked").experiment_id
    redirect = client.get(f"/mlflow/experiments/{experiment_id}/")
    assert redirect.status_code == 302 and redirect["Location"] == "/runs/?experiment=linked"
    assert client.get(f"/runs/{run.info.run_id}/").status_code == 200
