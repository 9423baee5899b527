"""The whole journey, end to end, on real components: an author writes a workflow, runs it
locally, publishes it with the CLI; a second user finds it in the gallery, subscribes, and
starts runs from the web form and from the CLI; a real Celery worker executes the steps in
subprocesses; the run's metrics, params, artifacts (in S3) and logs show on its page.
"""
from __future__ import annotations

import hashlib
import json
import textwrap

import httpx
import pytest

from flowdeck.cli import main as cli
from flowdeck.loader import load_workflow
from registry.models import AssetVersion
from runs.models import Metric, Run, RunParam
from tests.factories import make_token, make_user

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKFLOW = textwrap.dedent(
    '''
    """Churn model training."""
    import json
    import os

    from flowdeck import Param, Workflow, log_artifact, log_metric, log_params

    wf = Workflow(
        "churn-train",
        description="Trains the churn model on synthetic data.",
        params=[
            Param("n_rows", int, 50, min=10, description="Rows to generate"),
            Param("lr", float, 0.5, min=0.0, max=1.0, description="Learning rate"),
            Param("epochs", int, 5, min=1),
            Param("label", str, "churn", choices=["churn", "upsell"]),
        ],
    )


    @wf.step(outputs=["rows"])
    def prepare(n_rows: int, label: str):
        return [(i / n_rows, i % 2) for i in range(n_rows)]


    @wf.step(depends_on=["prepare"], outputs=["weight"])
    def train(rows, lr: float, epochs: int):
        log_params({"optimizer": "sgd", "rows_seen": len(rows)})
        weight = 0.0
        for epoch in range(epochs):
            weight += lr * (1 - weight)
            log_metric("loss", 1.0 - weight, step=epoch)
        return weight


    @wf.step(depends_on=["train"])
    def evaluate(weight: float):
        log_metric("accuracy", round(weight, 4))
        with open("model.json", "w") as fh:
            json.dump({"weight": weight}, fh)
        log_artifact("model.json")
        print(f"evaluated weight={weight:.4f}")
    '''
)
README = "# churn-train\n\nTrains the **churn** model. <script>alert('x')</script>\n"


@pytest.fixture
def workflow_dir(tmp_path):
    folder = tmp_path / "churn"
    folder.mkdir()
    (folder / "workflow.py").write_text(WORKFLOW)
    (folder / "README.md").write_text(README)
    (folder / ".flowdeckignore").write_text("scratch/\n")
    (folder / "scratch").mkdir()
    (folder / "scratch" / "big.bin").write_bytes(b"x" * 1000)
    return folder


def _cli(monkeypatch, capsys, url: str, token: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("FLOWDECK_URL", url)
    monkeypatch.setenv("FLOWDECK_TOKEN", token)
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_whole_journey(celery_worker, live_server, s3_client, s3_store, workflow_dir, client, monkeypatch, capsys, tmp_path):
    author = make_user("author")
    consumer = make_user("consumer")
    author_token, consumer_token = make_token(author), make_token(consumer)

    # 1-2. The author defines the workflow and runs it locally, in-process.
    monkeypatch.chdir(tmp_path)  # step code writes model.json to the working directory
    wf, root = load_workflow(workflow_dir)
    local = wf.run(params={"epochs": 3}, track_dir=tmp_path / "local")
    printed = capsys.readouterr().out
    assert local.status == "succeeded"
    assert [s.status for s in local.steps.values()] == ["succeeded"] * 3
    for step in ("prepare", "train", "evaluate"):
        assert f"✓ {step}" in printed
    assert local.metric("loss") == pytest.approx([0.5, 0.25, 0.125])
    assert (local.folder / "artifacts" / "model.json").is_file()

    # 3. Publish with the CLI, authenticated by an API token.
    code, out, err = _cli(monkeypatch, capsys, live_server.url, author_token,
                          "publish", str(workflow_dir), "--version", "1.0.0", "--visibility", "public", "--tags", "churn,demo")
    assert code == 0, err
    assert "Published author/churn-train@1.0.0" in out
    version = AssetVersion.objects.get(asset__namespace__slug="author", asset__name="churn-train")
    assert version.version == "1.0.0"
    key = f"bundles/sha256/{version.bundle_digest}.tar.gz"
    stored = s3_client.get_object(Bucket=s3_store.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == version.bundle_digest
    assert [s["name"] for s in version.spec["steps"]] == ["prepare", "train", "evaluate"]
    # The bundle is deterministic and honours .flowdeckignore.
    code, out, _ = _cli(monkeypatch, capsys, live_server.url, author_token, "publish", str(workflow_dir), "--dry-run")
    assert code == 0 and version.bundle_digest[:12] in out and "big.bin" not in out
    # Republishing the same version is refused, with one clear line.
    code, _, err = _cli(monkeypatch, capsys, live_server.url, author_token, "publish", str(workflow_dir), "--version", "1.0.0")
    assert code == 1 and "already exists" in err and "Traceback" not in err

    # 4. The gallery lists it; the detail page shows README, parameters, versions and the DAG.
    client.force_login(consumer)
    page = client.get("/?q=churn").content.decode()
    assert "author/churn-train" in page
    detail = client.get("/w/author/churn-train/").content.decode()
    assert "Trains the <strong>churn</strong> model." in detail
    assert "<script>alert" not in detail
    for param in ("n_rows", "lr", "epochs", "label"):
        assert param in detail
    assert "1.0.0" in detail
    assert "<svg" in detail and "prepare" in detail and "evaluate" in detail

    # 5. The consumer subscribes with the button and through the API.
    response = client.post("/w/author/churn-train/subscribe")
    assert response.status_code == 302
    assert consumer.subscriptions.filter(asset__name="churn-train").count() == 1
    api = httpx.put(f"{live_server.url}/api/v1/workflows/author/churn-train/subscription",
                    headers={"Authorization": f"Bearer {consumer_token}"}, json={})
    assert api.status_code == 200 and api.json()["subscribed"] is True
    assert consumer.subscriptions.filter(asset__name="churn-train").count() == 1

    # ... starts a run from the web form with overrides ...
    response = client.post("/w/author/churn-train/run", {"param-epochs": "4", "param-lr": "0.5", "param-n_rows": "20", "param-label": "upsell"})
    assert response.status_code == 302, response.content.decode()[:2000]
    web_run = Run.objects.latest("pk")
    assert web_run.params == {"n_rows": 20, "lr": 0.5, "epochs": 4, "label": "upsell"}
    assert response["Location"] == f"/runs/{web_run.pk}/"

    # ... and from the CLI, waiting for the end.
    code, out, err = _cli(monkeypatch, capsys, live_server.url, consumer_token,
                          "run", "author/churn-train", "--param", "epochs=6", "--param", "lr=0.25", "--wait")
    assert code == 0, out + err
    cli_run = Run.objects.exclude(pk=web_run.pk).get(created_by=consumer)
    assert f"Run {cli_run.pk} succeeded" in out
    for step in ("prepare", "train", "evaluate"):
        assert f"{step:<24} succeeded" in out

    # 6. The worker ran every step in dependency order and recorded everything.
    for run, epochs in ((celery_worker.wait_for_run(web_run.pk), 4), (Run.objects.get(pk=cli_run.pk), 6)):
        assert run.status == "succeeded", run.error
        steps = list(run.steps.order_by("position"))
        assert [(s.name, s.status) for s in steps] == [("prepare", "succeeded"), ("train", "succeeded"), ("evaluate", "succeeded")]
        assert steps[0].finished_at <= steps[1].started_at and steps[1].finished_at <= steps[2].started_at
        assert all(s.worker for s in steps)
        losses = list(Metric.objects.filter(run=run, key="loss").order_by("step").values_list("step", flat=True))
        assert losses == list(range(epochs))
        assert run.metric_summaries.get(key="loss").count == epochs
        assert dict(RunParam.objects.filter(run=run).values_list("key", "value"))["optimizer"] == "sgd"
        artifact_key = f"runs/{run.pk}/artifacts/model.json"
        body = json.loads(s3_client.get_object(Bucket=s3_store.bucket, Key=artifact_key)["Body"].read())
        assert body["weight"] == pytest.approx(1 - 0.5 ** epochs if run == web_run else 1 - 0.75 ** epochs)

    # 7. The run page shows steps, params, metrics (chart data), artifacts and logs.
    page = client.get(f"/runs/{web_run.pk}/").content.decode()
    for text in ("prepare", "train", "evaluate", "succeeded", "upsell", "optimizer", "loss", "accuracy", "model.json"):
        assert text in page, text
    assert 'id="metrics-data"' in page
    download = client.get(f"/runs/{web_run.pk}/artifacts/model.json")
    assert download.status_code == 302
    assert json.loads(httpx.get(download["Location"]).content)["weight"] == pytest.approx(1 - 0.5**4)
    log = client.get(f"/runs/{web_run.pk}/steps/evaluate/log").content.decode()
    assert "evaluated weight=0.9375" in log
    runs_page = client.get("/runs/").content.decode()
    assert f"/runs/{web_run.pk}/" in runs_page and f"/runs/{cli_run.pk}/" in runs_page

    # The author cannot see the consumer's runs; the API answers 404, not 403.
    other = httpx.get(f"{live_server.url}/api/v1/runs/{web_run.pk}", headers={"Authorization": f"Bearer {author_token}"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
