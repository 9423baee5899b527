"""The mlflow-artifacts proxy on both storage backends (S3, with multipart, and local
files), and the run operations a script uses besides logging: update, reopen, tags, inputs."""
import os

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from core import storage


def _round_trip(tmp_path, run_id: str) -> None:
    client = MlflowClient()
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "src" / "sub" / "b.txt").write_text("b")
    client.log_artifacts(run_id, str(tmp_path / "src"))
    client.log_text(run_id, "hello", "notes/hello.txt")
    assert sorted((f.path, f.is_dir) for f in client.list_artifacts(run_id)) == [
        ("a.txt", False), ("notes", True), ("sub", True)]
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "sub")] == [("sub/b.txt", 1)]
    out = client.download_artifacts(run_id, "", str(tmp_path / "all"))
    assert sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs) == [
        "a.txt", "notes/hello.txt", "sub/b.txt"]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"


def test_it_proxies_artifacts_to_s3(mlflow_env, tmp_path):
    with mlflow.start_run() as run:
        pass
    _round_trip(tmp_path, run.info.run_id)
    assert storage.is_s3() and storage.exists(storage.artifact_key(int(run.info.run_id), "sub/b.txt"))


def test_it_proxies_artifacts_to_local_files(mlflow_env, tmp_path, local_storage):
    with mlflow.start_run() as run:
        pass
    _round_trip(tmp_path, run.info.run_id)
    assert (local_storage / "runs" / run.info.run_id / "artifacts" / "sub" / "b.txt").read_text() == "b"
    info = requests.get(f"{mlflow_env.url}/api/3.0/mlflow/server-info", timeout=10).json()
    assert info["multipart_uploads_enabled"] is False


def test_it_deletes_artifacts(mlflow_env, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_text("x", "keep/x.txt")
        mlflow.log_text("y", "drop/y.txt")
    base = f"{mlflow_env.url}/api/2.0/mlflow-artifacts/artifacts/runs/{run.info.run_id}/artifacts"
    headers = {"Authorization": f"Bearer {mlflow_env.token}"}
    assert requests.delete(f"{base}/drop", headers=headers, timeout=10).status_code == 200
    assert [f.path for f in MlflowClient().list_artifacts(run.info.run_id)] == ["keep"]
    missing = requests.get(f"{base}/drop/y.txt", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    escape = requests.put(f"{base}/../../7/artifacts/evil.txt", data=b"x", headers=headers, timeout=10)
    assert escape.status_code in (400, 404)


def test_it_uploads_a_large_file_in_parts(mlflow_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * 1024 * 1024))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big))
    got = MlflowClient().download_artifacts(run.info.run_id, "big.bin", str(tmp_path / "dl"))
    assert open(got, "rb").read() == big.read_bytes()
    from runs.models import Artifact

    assert Artifact.objects.get(run_id=int(run.info.run_id), path="big.bin").size == 11 * 1024 * 1024


def test_it_updates_reopens_and_tags_runs(mlflow_env):
    client = MlflowClient()
    run = client.create_run("0", run_name="first-name", tags={"a": "1"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING" and run.info.run_name == "first-name"
    client.update_run(run_id, name="second-name")
    client.set_tag(run_id, "b", "2")
    client.delete_tag(run_id, "a")
    with pytest.raises(MlflowException) as missing:
        client.delete_tag(run_id, "a")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.set_terminated(run_id, status="KILLED", end_time=1_800_000_000_000)
    got = client.get_run(run_id)
    assert (got.info.status, got.info.end_time, got.info.run_name) == ("KILLED", 1_800_000_000_000, "second-name")
    assert "a" not in got.data.tags and got.data.tags["b"] == "2"
    with mlflow.start_run(run_id=run_id):  # resuming a run reopens it, as with MLflow
        assert client.get_run(run_id).info.status == "RUNNING"
        mlflow.log_metric("more", 1.0)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_it_records_dataset_inputs(mlflow_env):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(name="train", digest="abc123", source_type="local", source="/data/train.csv",
                      schema='{"cols": ["x"]}', profile='{"rows": 10}')
    with mlflow.start_run() as run:
        MlflowClient().log_inputs(run.info.run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])])
    inputs = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest, d.tags[0].value) for d in inputs] == [("train", "abc123", "training")]
