"""Retry with edited parameters, and partial runs on the server, with a real worker."""
from __future__ import annotations

import json

import pytest

from flowdeck.cli import main as cli
from runs.models import Run
from tests.factories import assert_error, make_spec, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# a -> b -> c, and a -> d. b reads the parameter n, and fails when n is 13.
SOURCE = '''\
def a():
    return {"x": 2}


def b(x, n):
    if n == 13:
        raise RuntimeError("unlucky n")
    return {"y": x * n}


def c(y):
    return {"z": y + 1}


def d(x):
    return {"w": x * 10}
'''


def _spec(name: str = "ops") -> dict:
    return make_spec(
        name=name,
        steps=[
            {"name": "a", "fn": "workflow:a", "outputs": ["x"]},
            {"name": "b", "fn": "workflow:b", "depends_on": ["a"], "inputs": {"x": "a.x", "n": "params.n"}, "outputs": ["y"]},
            {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"}, "outputs": ["z"]},
            {"name": "d", "fn": "workflow:d", "depends_on": ["a"], "inputs": {"x": "a.x"}, "outputs": ["w"]},
        ],
    )


def _steps(run_id: int) -> dict:
    return {s.name: s for s in Run.objects.get(pk=run_id).steps.select_related("cached_from")}


def _value(step, output: str):
    return step.outputs[output]["value"]


def test_retry_with_edited_params_reruns_what_reads_them_and_what_failed(celery_worker, user, auth_client):
    publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    api = auth_client(user)
    run_id = api.post("/api/v1/runs", {"workflow": "alice/ops", "params": {"n": 13}}, format="json").json()["id"]
    run = celery_worker.wait_for_run(run_id)
    assert run.status == "failed"
    before = _steps(run_id)
    assert {n: s.status for n, s in before.items()} == {"a": "succeeded", "b": "failed", "c": "skipped", "d": "succeeded"}

    # An edit that does not fit the parameter is refused before anything changes.
    assert_error(api.post(f"/api/v1/runs/{run_id}/retry", {"params": {"n": "many"}}, format="json"), 400, "invalid", "params.n")
    assert_error(api.post(f"/api/v1/runs/{run_id}/retry", {"params": {"nope": 1}}, format="json"), 400, "invalid")
    assert Run.objects.get(pk=run_id).params == {"n": 13}

    # Retry from the failed step, with n edited: b and c run; a and d are reused.
    response = api.post(f"/api/v1/runs/{run_id}/retry", {"params": {"n": 4}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["params"] == {"n": 4}
    run = celery_worker.wait_for_run(run_id)
    assert run.status == "succeeded" and run.params == {"n": 4}
    after = _steps(run_id)
    for name in ("a", "d"):
        assert after[name].attempt == 1 and after[name].finished_at == before[name].finished_at, name
    assert (after["b"].attempt, after["c"].attempt) == (2, 1)
    assert (_value(after["b"], "y"), _value(after["c"], "z"), _value(after["d"], "w")) == (8, 9, 20)

    # The run succeeded; a changed n still reruns b and c (not a, not d), with new outputs.
    response = api.post(f"/api/v1/runs/{run_id}/retry", {"params": {"n": 5}}, format="json")
    assert response.status_code == 200, response.content
    assert celery_worker.wait_for_run(run_id).status == "succeeded"
    again = _steps(run_id)
    assert {n: s.attempt for n, s in again.items()} == {"a": 1, "b": 3, "c": 2, "d": 1}
    assert again["d"].finished_at == before["d"].finished_at
    assert (_value(again["b"], "y"), _value(again["c"], "z")) == (10, 11)
    assert again["c"].outputs["z"] != after["c"].outputs["z"]  # the new attempt's own output

    # Nothing failed and nothing changed: nothing to retry.
    assert_error(api.post(f"/api/v1/runs/{run_id}/retry", {"params": {"n": 5}}, format="json"), 409, "conflict")
    assert_error(api.post(f"/api/v1/runs/{run_id}/retry"), 409, "conflict")


def test_a_partial_run_runs_the_chosen_steps_with_inputs_from_the_source_run(celery_worker, user, other_user, auth_client, live_server, monkeypatch, capsys):
    publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    api = auth_client(user)
    source = api.post("/api/v1/runs", {"workflow": "alice/ops", "params": {"n": 3}}, format="json").json()["id"]
    failed = api.post("/api/v1/runs", {"workflow": "alice/ops", "params": {"n": 13}}, format="json").json()["id"]
    assert celery_worker.wait_for_run(source).status == "succeeded"
    assert celery_worker.wait_for_run(failed).status == "failed"
    source_steps = _steps(source)

    # Only c runs; b (and a, upstream of it) are reused from the source run; d is not selected.
    response = api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["c"], "source_run": source}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["params"] == {"n": 3}  # the source run's parameters are the base
    reused = {s["name"]: s["cached_from"] for s in body["steps"]}
    assert reused["b"] == {"run": source, "step": "b"} and reused["a"] == {"run": source, "step": "a"}
    run = celery_worker.wait_for_run(body["id"])
    assert run.status == "succeeded"
    steps = _steps(run.pk)
    assert {n: s.status for n, s in steps.items()} == {"a": "succeeded", "b": "succeeded", "c": "succeeded", "d": "skipped"}
    assert (steps["a"].attempt, steps["b"].attempt, steps["c"].attempt) == (0, 0, 1)
    assert steps["b"].cached_from == source_steps["b"] and steps["b"].worker == "reused"
    assert steps["b"].outputs == source_steps["b"].outputs  # the very stored output, not a copy
    assert steps["d"].error == "Not selected in this partial run."
    assert _value(steps["c"], "z") == 7

    page = auth_client(user).get(f"/api/v1/runs/{run.pk}").json()
    assert [s["worker"] for s in page["steps"] if s["name"] == "b"] == ["reused"]

    # b runs with a new n; a comes from the source run; c and d are not selected.
    partial = api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["b"], "source_run": source, "params": {"n": 10}},
                       format="json").json()
    run = celery_worker.wait_for_run(partial["id"])
    steps = _steps(run.pk)
    assert run.status == "succeeded" and run.params == {"n": 10}
    assert _value(steps["b"], "y") == 20 and steps["a"].cached_from == source_steps["a"]
    assert (steps["c"].status, steps["d"].status) == ("skipped", "skipped")

    # What cannot work is refused before anything is created, naming the culprit.
    count = Run.objects.count()
    error = assert_error(api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["c"], "source_run": failed}, format="json"),
                         400, "invalid", "source_run")
    assert "step 'b' failed" in error["message"] and f"run {failed}" in error["message"]
    error = assert_error(api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["c", "zz"], "source_run": source}, format="json"),
                         400, "invalid", "steps")
    assert "'zz'" in error["message"]
    assert_error(api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["c"]}, format="json"), 400, "invalid", "source_run")
    assert_error(api.post("/api/v1/runs", {"workflow": "alice/ops", "steps": [], "source_run": source}, format="json"), 400, "invalid", "steps")
    publish(user, spec=_spec("other"), files={"workflow.py": SOURCE})
    error = assert_error(api.post("/api/v1/runs", {"workflow": "alice/other", "steps": ["c"], "source_run": source}, format="json"),
                         400, "invalid", "source_run")
    assert "alice/other" in error["message"]
    # Someone who cannot see the source run is told it does not exist.
    assert_error(auth_client(other_user).post("/api/v1/runs", {"workflow": "alice/ops", "steps": ["c"], "source_run": source},
                                              format="json"), 404, "not_found")
    assert Run.objects.count() == count

    # The CLI: flowdeck run NS/NAME --steps c --from-run N --wait
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", api._credentials["HTTP_AUTHORIZATION"].split()[1])
    capsys.readouterr()
    assert cli(["run", "alice/ops", "--steps", "c,d", "--from-run", str(source), "--wait"]) == 0
    out = capsys.readouterr().out
    new_id = Run.objects.order_by("-pk").first().pk
    assert f"Started run {new_id}" in out and f"Run {new_id} succeeded" in out
    steps = _steps(new_id)
    assert (steps["c"].attempt, steps["d"].attempt, steps["b"].worker) == (1, 1, "reused")
    assert cli(["run", "alice/ops", "--steps", "c"]) == 1
    assert "--steps and --from-run go together" in capsys.readouterr().err

    # flowdeck runs retry N --param k=v
    assert cli(["runs", "retry", str(new_id), "--param", "n=6", "--wait"]) == 0
    out = capsys.readouterr().out
    assert "those that read n" in out and f"Run {new_id} succeeded" in out
    steps = _steps(new_id)
    assert Run.objects.get(pk=new_id).params == {"n": 6}
    # b was reused from the source run and reads n: it now runs here, and c after it.
    assert (steps["b"].attempt, steps["b"].cached_from, _value(steps["c"], "z")) == (1, None, 13)
    assert steps["a"].cached_from == source_steps["a"]  # a reads no parameter: still reused

    # flowdeck runs copy N --param k=v: a new run of the same version, n edited, the rest kept.
    assert cli(["runs", "copy", str(source), "--param", "n=2", "--name", "copied", "--wait"]) == 0
    copy = Run.objects.order_by("-pk").first()
    assert f"a copy of run {source}" in capsys.readouterr().out
    assert (copy.status, copy.params, copy.name) == ("succeeded", {"n": 2}, "copied")
    assert _value(_steps(copy.pk)["c"], "z") == 5

    assert cli(["runs", "retry", str(new_id), "--param", "n=0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'n'" in err
