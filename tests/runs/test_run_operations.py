"""Retry, copy, delete and compare, with a real worker executing the steps."""
from __future__ import annotations

import pytest

from core import storage
from flowdeck.cli import main as cli
from runs.models import Run
from tests.factories import assert_error, make_spec, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Step b fails until the flag file exists: a transient fault the retry gets past.
SOURCE = '''\
import os


def a():
    return {"x": 2}


def b(x, n, flag):
    if not os.path.exists(flag):
        raise RuntimeError("flag missing")
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


def _spec():
    spec = make_spec(name="flaky")
    spec["params"].append({"name": "flag", "type": "str", "default": "/nonexistent"})
    spec["steps"][1]["inputs"]["flag"] = "params.flag"
    return spec


def test_it_retries_the_failed_part_and_reuses_succeeded_steps(celery_worker, user, auth_client, tmp_path):
    flag = tmp_path / "flag"
    version = publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    api = auth_client(user)
    run_id = api.post("/api/v1/runs", {"workflow": "alice/flaky", "params": {"flag": str(flag)}}, format="json").json()["id"]
    run = celery_worker.wait_for_run(run_id)
    assert run.status == "failed"
    assert {s.name: s.status for s in run.steps.all()} == {"a": "succeeded", "b": "failed", "c": "skipped"}
    a_before = run.steps.get(name="a")

    flag.write_text("ok")
    response = api.post(f"/api/v1/runs/{run_id}/retry")
    assert response.status_code == 200, response.content
    run = celery_worker.wait_for_run(run_id)
    assert run.status == "succeeded"
    steps = {s.name: s for s in run.steps.all()}
    assert steps["a"].attempt == 1 and steps["a"].finished_at == a_before.finished_at  # reused, not rerun
    assert steps["b"].attempt == 2 and steps["c"].status == "succeeded"
    assert version.runs.count() == 1

    # Retrying a run that fully succeeded is refused.
    assert_error(api.post(f"/api/v1/runs/{run_id}/retry"), 409, "conflict")


def test_it_copies_with_edited_params_and_deletes_finished_runs_only(celery_worker_factory, user, other_user, auth_client, tmp_path, capsys, live_server, monkeypatch):
    # Outputs in storage (none kept in the rows): deleting the run is seen to remove its files.
    celery_worker = celery_worker_factory(extra_env={"FLOWDECK_INLINE_OUTPUT_MAX_BYTES": "0"})
    flag = tmp_path / "flag"
    flag.write_text("ok")
    publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    api = auth_client(user)
    first = api.post("/api/v1/runs", {"workflow": "alice/flaky", "params": {"flag": str(flag), "n": 4}}, format="json").json()["id"]
    copy = api.post(f"/api/v1/runs/{first}/copy", {"params": {"n": 7}}, format="json")
    assert copy.status_code == 201
    second = copy.json()["id"]
    assert copy.json()["params"] == {"n": 7, "flag": str(flag)}
    assert_error(api.post(f"/api/v1/runs/{first}/copy", {"params": {"n": "many"}}, format="json"), 400, "invalid", "params.n")
    for run_id in (first, second):
        assert celery_worker.wait_for_run(run_id).status == "succeeded"

    # compare: differences first
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", api._credentials["HTTP_AUTHORIZATION"].split()[1])
    capsys.readouterr()
    assert cli(["runs", "compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "params.n" in out and "params.flag" not in out
    assert cli(["runs", "compare", str(first), str(second), "--all"]) == 0
    assert "params.flag" in capsys.readouterr().out

    # Another user may not delete it, and sees nothing.
    assert_error(auth_client(other_user).delete(f"/api/v1/runs/{first}"), 404, "not_found")
    assert any(True for _ in storage.list_keys(storage.run_prefix(first)))
    response = api.delete(f"/api/v1/runs/{first}")
    assert response.status_code == 200 and response.json()["files_removed"] > 0
    assert not Run.objects.filter(pk=first).exists()
    assert list(storage.list_keys(storage.run_prefix(first))) == []
    assert Run.objects.filter(pk=second).exists()


def test_it_refuses_to_delete_a_run_in_progress(user, auth_client, db):
    version = publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    run = Run.objects.create(namespace=user.personal_team, created_by=user, asset_version=version, status="running")
    assert_error(auth_client(user).delete(f"/api/v1/runs/{run.pk}"), 409, "conflict")
    assert Run.objects.filter(pk=run.pk).exists()
