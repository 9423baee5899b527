"""flowdeck.start_run: tracking outside workflows, against a live server and to a local folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest

import flowdeck
from flowdeck import tracking
from runs.models import Experiment, Metric, Run, RunParam

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_run(server, run_id: int) -> dict:
    with flowdeck.Client(server.url, server.token) as client:
        return client.run(run_id)


def download(server, run_id: int, path: str) -> bytes:
    response = httpx.get(f"{server.url}/api/v1/runs/{run_id}/artifacts/content/{path}",
                         headers={"Authorization": f"Bearer {server.token}"}, follow_redirects=True)
    assert response.status_code == 200, response.text[:300]
    return response.content


def test_it_tracks_a_block_to_the_server(server, tmp_path):
    (tmp_path / "model.txt").write_text("weights")
    n = tracking.BATCH_POINTS + 1234  # more than one batch
    with flowdeck.start_run(experiment="churn", name="baseline", tags={"team": "ml"}) as run:
        assert isinstance(run.id, int)
        assert run.url == f"{server.url}/runs/{run.id}/"
        assert read_run(server, run.id)["status"] == "running"
        flowdeck.log_params({"lr": 0.01, "layers": [64, 32]})
        flowdeck.set_tag("stage", "dev")
        for i in range(n):
            flowdeck.log_metric("loss", 1.0 / (i + 1))
        flowdeck.log_metrics({"acc": 0.9, "f1": 0.8}, step=7)
        flowdeck.log_artifact(tmp_path / "model.txt")

    body = read_run(server, run.id)
    assert (body["status"], body["experiment"], body["name"], body["workflow"]) == ("succeeded", "churn", "baseline", None)
    assert body["finished_at"] is not None
    assert body["logged_params"] == {"lr": "0.01", "layers": "[64, 32]"}
    assert body["tags"] == {"team": "ml", "stage": "dev"}
    metrics = {m["key"]: m for m in body["metrics"]}
    assert (metrics["loss"]["count"], metrics["loss"]["last_step"], metrics["loss"]["min"]) == (n, n - 1, 1.0 / n)
    assert (metrics["acc"]["last"], metrics["acc"]["last_step"]) == (0.9, 7)
    assert Metric.objects.filter(run_id=run.id).count() == n + 2
    assert [a["path"] for a in body["artifacts"]] == ["model.txt"]
    assert download(server, run.id, "model.txt") == b"weights"
    assert run.status == "succeeded"


def test_it_ends_failed_on_an_exception_after_flushing(server):
    with pytest.raises(ZeroDivisionError):
        with flowdeck.start_run(experiment="churn", name="crash") as run:
            for i in range(10):
                flowdeck.log_metric("loss", float(i))
            1 / 0
    body = read_run(server, run.id)
    assert body["status"] == "failed"
    assert body["error"].startswith("ZeroDivisionError")
    assert {m["key"]: m["count"] for m in body["metrics"]} == {"loss": 10}
    with pytest.raises(RuntimeError, match="No active Flowdeck run"):
        flowdeck.log_metric("loss", 1.0)  # the run is no longer active


def test_it_ends_stopped_on_ctrl_c(server):
    with pytest.raises(KeyboardInterrupt):
        with flowdeck.start_run(experiment="churn") as run:
            flowdeck.log_metric("loss", 0.5)
            raise KeyboardInterrupt
    body = read_run(server, run.id)
    assert body["status"] == "stopped"
    assert {m["key"]: m["count"] for m in body["metrics"]} == {"loss": 1}


def test_sys_exit_inside_the_block_ends_by_its_code(server):
    with pytest.raises(SystemExit):
        with flowdeck.start_run(experiment="churn") as ok:
            sys.exit(0)
    with pytest.raises(SystemExit):
        with flowdeck.start_run(experiment="churn") as bad:
            sys.exit(3)
    assert read_run(server, ok.id)["status"] == "succeeded"
    assert (read_run(server, bad.id)["status"], read_run(server, bad.id)["error"]) == ("failed", "SystemExit: 3")


def test_it_works_without_a_with_block(server):
    run = flowdeck.start_run(experiment="churn", name="manual")
    flowdeck.log_metric("loss", 0.5)
    flowdeck.log_param("seed", 1)
    run.end()
    run.end()  # a second end does nothing
    body = read_run(server, run.id)
    assert body["status"] == "succeeded"
    assert body["logged_params"] == {"seed": "1"}
    other = flowdeck.start_run(experiment="churn")
    with pytest.raises(flowdeck.TrackingError):
        other.end("running")
    other.end("stopped")
    assert read_run(server, other.id)["status"] == "stopped"


def test_params_are_write_once(server):
    with pytest.raises(flowdeck.APIError, match="already logged"):
        with flowdeck.start_run(experiment="churn") as run:
            flowdeck.log_param("lr", 0.1)
            flowdeck.log_param("lr", 0.2)
    assert read_run(server, run.id)["status"] == "failed"
    assert list(RunParam.objects.filter(run_id=run.id).values_list("value", flat=True)) == ["0.1"]


def test_runs_group_into_experiments(server):
    for name in ("a", "b"):
        with flowdeck.start_run(experiment="churn", name=name):
            flowdeck.log_metric("loss", 1.0)
    with flowdeck.start_run(experiment="fraud"):
        pass
    with flowdeck.Client() as client:
        experiments = {e["name"]: e["run_count"] for e in client.experiments()}
        names = [r["name"] for r in client.runs(experiment="churn")]
    assert experiments == {"churn": 2, "fraud": 1}
    assert names == ["b", "a"]
    assert Experiment.objects.get(name="churn").namespace.slug == server.user.username


def test_nested_runs_log_to_the_innermost(server):
    with flowdeck.start_run(experiment="outer") as outer:
        flowdeck.log_metric("x", 1.0)
        with flowdeck.start_run(experiment="inner") as inner:
            flowdeck.log_metric("y", 2.0)
        flowdeck.log_metric("x", 3.0)
    assert {m["key"]: m["count"] for m in read_run(server, outer.id)["metrics"]} == {"x": 2}
    assert {m["key"]: m["count"] for m in read_run(server, inner.id)["metrics"]} == {"y": 1}


def test_a_refused_experiment_raises_and_leaves_no_active_run(server):
    with pytest.raises(flowdeck.APIError) as caught:
        flowdeck.start_run(experiment="churn", namespace="not-mine")
    assert caught.value.status == 404
    with pytest.raises(RuntimeError):
        flowdeck.log_metric("loss", 1.0)


def test_without_a_server_it_tracks_to_a_local_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with flowdeck.start_run(experiment="churn", name="offline", tags={"k": "v"}) as run:
        flowdeck.log_param("lr", 0.1)
        flowdeck.log_metric("loss", 0.5)
        flowdeck.log_metric("loss", 0.25)
        (tmp_path / "notes.txt").write_text("hi")
        flowdeck.log_artifact("notes.txt")
    with flowdeck.start_run(experiment="churn") as second:
        pass
    err = capsys.readouterr().err
    assert err.count("no server configured") == 1  # said once

    folder = tmp_path / ".flowdeck" / "runs" / run.id
    assert run.folder == folder.relative_to(tmp_path) and run.url == folder.as_uri()
    assert isinstance(run.id, str) and second.id != run.id
    record = json.loads((folder / "run.json").read_text())
    assert (record["status"], record["experiment"], record["name"], record["tags"]) == ("succeeded", "churn", "offline", {"k": "v"})
    assert record["finished_at"]
    points = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [(p["key"], p["value"], p["step"]) for p in points] == [("loss", 0.5, 0), ("loss", 0.25, 1)]
    assert json.loads((folder / "params.json").read_text()) == {"lr": "0.1"}
    assert (folder / "artifacts" / "notes.txt").read_text() == "hi"


def test_a_local_run_records_a_failure(tmp_path):
    with pytest.raises(ValueError):
        with flowdeck.start_run(experiment="churn", track_dir=tmp_path) as run:
            raise ValueError("bad data")
    record = json.loads((tmp_path / run.id / "run.json").read_text())
    assert (record["status"], record["error"]) == ("failed", "ValueError: bad data")


def test_a_bad_experiment_name_is_refused_before_anything_is_created(tmp_path):
    for bad in ("", "   ", None, "x" * 201):
        with pytest.raises(flowdeck.TrackingError):
            flowdeck.start_run(experiment=bad, track_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def _script(server, body: str, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "FLOWDECK_URL": server.url, "FLOWDECK_TOKEN": server.token, "PYTHONPATH": REPO_ROOT}
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)


def test_a_run_left_open_is_flushed_and_ended_at_exit(server, tmp_path):
    done = _script(server, """
        import flowdeck
        run = flowdeck.start_run(experiment="churn", name="forgot-to-end")
        print(run.id)
        for i in range(12_345):
            flowdeck.log_metric("loss", float(i))
        # no run.end(): the interpreter's exit sends the buffer and ends the run
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    run = Run.objects.get(pk=int(done.stdout.strip()))
    assert run.status == "succeeded" and run.finished_at is not None
    assert Metric.objects.filter(run=run).count() == 12_345


def test_a_script_dying_of_an_exception_ends_its_open_run_failed(server, tmp_path):
    done = _script(server, """
        import flowdeck
        run = flowdeck.start_run(experiment="churn", name="crash")
        print(run.id, flush=True)
        flowdeck.log_metric("loss", 1.0)
        raise SystemError("out of memory, say")
    """, tmp_path)
    assert done.returncode == 1
    run = Run.objects.get(pk=int(done.stdout.strip()))
    assert (run.status, run.error) == ("failed", "SystemError: out of memory, say")
    assert Metric.objects.filter(run=run).count() == 1
