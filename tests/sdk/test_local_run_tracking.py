"""wf.run() with a server configured: the local run is also tracked to a server run."""
from __future__ import annotations

import json

import pytest

import flowdeck
from flowdeck import Workflow, log_artifact, log_metric, log_param
from runs.models import Metric, Run

pytestmark = pytest.mark.django_db(transaction=True)


def make_workflow(fail: bool = False) -> Workflow:
    wf = Workflow("churn-train")

    @wf.step(outputs=["rows"])
    def load():
        return [1, 2, 3]

    @wf.step(depends_on=["load"])
    def train(rows):
        log_param("optimizer", "sgd")
        for epoch in range(5):
            log_metric("loss", 1.0 / (epoch + 1))
        with open("model.txt", "w") as fh:
            fh.write(repr(rows))
        log_artifact("model.txt")
        if fail:
            raise ValueError("diverged")

    return wf


def test_a_local_run_is_mirrored_to_the_server(server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    local = make_workflow().run(track_dir=tmp_path / "runs")
    printed = capsys.readouterr().out
    assert local.status == "succeeded"
    assert local.metric("loss") == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])  # the local copy is kept
    assert (local.folder / "artifacts" / "model.txt").read_text() == "[1, 2, 3]"
    assert json.loads((local.folder / "run.json").read_text())["status"] == "succeeded"

    run = Run.objects.get(pk=local.server_run_id)
    assert f"at {server.url}/runs/{run.pk}/" in printed
    assert (run.status, run.name, run.experiment.name, run.asset_version_id) == ("succeeded", local.id, "churn-train", None)
    assert run.finished_at is not None
    assert dict(run.tags.values_list("key", "value")) == {"flowdeck.source": "local", "flowdeck.workflow": "churn-train"}
    assert dict(run.logged_params.values_list("key", "value")) == {"optimizer": "sgd"}
    assert sorted(Metric.objects.filter(run=run).values_list("step", "value")) == [
        (0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25), (4, 0.2)]
    assert list(run.artifacts.values_list("path", flat=True)) == ["model.txt"]


def test_a_failed_local_run_ends_failed_on_the_server(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = make_workflow(fail=True).run(track_dir=tmp_path / "runs", quiet=True)
    assert local.status == "failed"
    run = Run.objects.get(pk=local.server_run_id)
    assert run.status == "failed"
    assert Metric.objects.filter(run=run).count() == 5  # flushed although the step failed


def test_track_false_keeps_it_local(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = make_workflow().run(track_dir=tmp_path / "runs", quiet=True, track=False)
    assert local.status == "succeeded" and local.server_run_id is None
    assert Run.objects.count() == 0


def test_without_a_server_it_stays_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = make_workflow().run(track_dir=tmp_path / "runs", quiet=True)
    assert local.status == "succeeded" and local.server_run_id is None
    with pytest.raises(flowdeck.ConfigError):
        make_workflow().run(track_dir=tmp_path / "runs", quiet=True, track=True)


def test_an_unreachable_server_falls_back_to_local_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWDECK_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("FLOWDECK_TOKEN", "fdk_nothing")
    monkeypatch.setattr("flowdeck.client.RETRIES", 1)
    local = make_workflow().run(track_dir=tmp_path / "runs", quiet=True)
    assert local.status == "succeeded" and local.server_run_id is None
    assert "tracking locally only" in capsys.readouterr().err
    with pytest.raises(flowdeck.APIError):
        make_workflow().run(track_dir=tmp_path / "runs", quiet=True, track=True)


def test_a_refused_token_falls_back_to_local(live_server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", "fdk_revoked")
    local = make_workflow().run(track_dir=tmp_path / "runs", quiet=True)
    assert local.status == "succeeded" and local.server_run_id is None
    assert "HTTP 401" in capsys.readouterr().err


def test_a_local_only_run_can_be_uploaded_later(server, tmp_path, monkeypatch, capsys):
    from flowdeck.cli import main as cli

    monkeypatch.chdir(tmp_path)
    local = make_workflow().run(track_dir=tmp_path / "runs", track=False)
    assert Run.objects.count() == 0
    assert cli(["upload", local.id, "--track-dir", str(tmp_path / "runs")]) == 0
    assert "Uploaded" in capsys.readouterr().out
    run = Run.objects.get(name=local.id)
    assert (run.status, run.experiment.name) == ("succeeded", "churn-train")
    assert dict(run.logged_params.values_list("key", "value"))["optimizer"] == "sgd"
    assert Metric.objects.filter(run=run, key="loss").count() == 5
    assert list(run.artifacts.values_list("path", flat=True)) == ["model.txt"]
