"""The trend of a metric over a workflow's runs with its gate thresholds, and each run's gate
outcomes side by side on the compare data."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from compare.gates import gate_thresholds
from runs.models import Run, StepRun
from runs.services.lifecycle import run_start
from runs.services.tracking import log_batch
from tests.factories import assert_error, make_spec, publish

pytestmark = pytest.mark.django_db

GATE = "b.metrics.accuracy >= params.min_acc and b.metrics.loss < 0.5"


def spec(when: str) -> dict:
    return make_spec(params=[{"name": "n", "type": "int", "default": 3},
                             {"name": "min_acc", "type": "float", "default": 0.8}],
                     steps=[{"name": "a", "fn": "workflow:a", "outputs": ["x"]},
                            {"name": "b", "fn": "workflow:b", "depends_on": ["a"],
                             "inputs": {"x": "a.x", "n": "params.n"}, "outputs": ["y"]},
                            {"name": "c", "fn": "workflow:c", "depends_on": ["b"], "inputs": {"y": "b.y"},
                             "when": when}])


def finished(user, version, *, accuracy: float, loss: float, params: dict | None = None, ago_h: int = 0,
             gate_passed: bool | None = None) -> Run:
    """A run of ``version`` that logged its metrics and whose gate on c decided as given."""
    run = run_start(user=user, version=version, params=params or {})
    log_batch(run=run, metrics={"accuracy": {"step": [0, 1], "value": [accuracy / 2, accuracy]},
                                "loss": {"step": [0, 1], "value": [1.0, loss]}})
    Run.objects.filter(pk=run.pk).update(status="succeeded", created_at=timezone.now() - timedelta(hours=ago_h))
    if gate_passed is not None:
        record = {"expr": version.spec["steps"][2]["when"], "passed": gate_passed,
                  "values": {"b.metrics.accuracy": accuracy}}
        StepRun.objects.filter(run=run, name="c").update(gate=record, status="succeeded" if gate_passed else "skipped")
    return run


@pytest.mark.parametrize("expr,metric,expected", [
    ("b.metrics.accuracy >= 0.9", "accuracy", [{"op": ">=", "value": 0.9}]),
    ("0.9 < b.metrics.accuracy", "accuracy", [{"op": ">", "value": 0.9}]),
    ("0.5 <= b.metrics.accuracy <= 0.99", "accuracy", [{"op": ">=", "value": 0.5}, {"op": "<=", "value": 0.99}]),
    ("b.metrics.loss < -1 or not (b.metrics.accuracy == 1)", "loss", [{"op": "<", "value": -1.0}]),
    ("b.metrics.accuracy >= params.min_acc", "accuracy", [{"op": ">=", "param": "min_acc"}]),
    ("b.metrics.accuracy >= b.metrics.baseline", "accuracy", []),  # not a constant
    ("b.metrics.accuracy * 2 >= 1", "accuracy", []),  # not the metric itself
    ("b.metrics.val.acc > 0.1", "val.acc", [{"op": ">", "value": 0.1}]),  # keys may hold dots
    ("b.metrics.accuracy >=", "accuracy", []),  # does not parse
])
def test_it_reads_the_threshold_a_gate_sets_on_a_metric(expr, metric, expected):
    found = gate_thresholds(expr, metric)
    assert sorted(found, key=lambda t: t["op"]) == sorted(expected, key=lambda t: t["op"])


def test_the_trend_is_in_time_order_with_each_runs_thresholds(client, user):
    v1 = publish(user, spec=spec(GATE), version="1.0.0")
    v2 = publish(user, spec=spec("b.metrics.accuracy >= 0.9"), version="1.1.0")
    old = finished(user, v1, accuracy=0.7, loss=0.6, ago_h=3)
    mid = finished(user, v1, accuracy=0.85, loss=0.3, params={"min_acc": 0.85}, ago_h=2)
    new = finished(user, v2, accuracy=0.93, loss=0.2, ago_h=1)
    body = client.get("/api/v1/workflows/alice/demo/trend", {"metric": "accuracy"}).json()
    assert [r["id"] for r in body["runs"]] == [old.pk, mid.pk, new.pk]
    assert [r["value"] for r in body["runs"]] == [0.7, 0.85, 0.93] and body["agg"] == "last"
    assert [r["version"] for r in body["runs"]] == ["1.0.0", "1.0.0", "1.1.0"]
    # The threshold comes from the run's own version, a parameter bound from the run's own value.
    assert [[(t["op"], t["value"]) for t in r["thresholds"]] for r in body["runs"]] == [
        [(">=", 0.8)], [(">=", 0.85)], [(">=", 0.9)]]
    loss = client.get("/api/v1/workflows/alice/demo/trend", {"metric": "loss", "agg": "best"}).json()
    assert loss["goal"] == "min" and [r["value"] for r in loss["runs"]] == [0.6, 0.3, 0.2]
    assert [[t["value"] for t in r["thresholds"]] for r in loss["runs"]] == [[0.5], [0.5], []]
    # Without a metric, the first one a gate reads.
    assert client.get("/api/v1/workflows/alice/demo/trend").json()["metric"] == "accuracy"
    # The page draws the same data and offers to compare the latest runs.
    from django.test import Client

    web = Client()
    web.force_login(user)
    html = web.get("/w/alice/demo/trend?metric=accuracy").content.decode()
    assert f'href="/compare/?runs={old.pk},{mid.pk},{new.pk}" id="compare-recent"' in html
    assert "Compare the last 3 runs" in html and 'id="trend-data"' in html


def test_the_trend_shows_only_runs_the_user_may_see(client, user, other_user, auth_client):
    version = publish(user, spec=spec(GATE))
    finished(user, version, accuracy=0.9, loss=0.1)
    finished(other_user, version, accuracy=0.1, loss=0.9)  # bob's run of alice's public workflow
    assert [r["value"] for r in client.get("/api/v1/workflows/alice/demo/trend").json()["runs"]] == [0.9]
    assert [r["value"] for r in auth_client(other_user).get("/api/v1/workflows/alice/demo/trend").json()["runs"]] == [0.1]


@pytest.mark.parametrize("params,field", [({"agg": "mean"}, "agg"), ({"limit": "0"}, "limit"), ({"colour": "x"}, "colour")])
def test_bad_trend_options_are_a_400_naming_the_field(client, user, params, field):
    publish(user, spec=spec(GATE))
    assert_error(client.get("/api/v1/workflows/alice/demo/trend", params), 400, "invalid", field)


def test_gate_outcomes_and_version_diff_links_side_by_side(client, user):
    v1 = publish(user, spec=spec(GATE), version="1.0.0")
    v2 = publish(user, spec=spec("b.metrics.accuracy >= 0.9"), version="1.1.0")
    passed = finished(user, v1, accuracy=0.9, loss=0.1, gate_passed=True)
    skipped = finished(user, v2, accuracy=0.7, loss=0.1, gate_passed=False)
    pending = finished(user, v2, accuracy=0.95, loss=0.1)
    body = json.loads(client.get("/api/v1/compare", {"runs": f"{passed.pk},{skipped.pk},{pending.pk}"}).content)
    # Whatever the order of the runs, the version diff reads from the older version to the newer.
    newest_first = json.loads(client.get("/api/v1/compare", {"runs": f"{pending.pk},{passed.pk}"}).content)
    assert newest_first["diff"]["versions"][0]["links"][0]["url"] == "/w/alice/demo/diff?from=1.0.0&to=1.1.0"
    (gate,) = body["gates"]
    assert gate["step"] == "c"
    assert [c["outcome"] for c in gate["cells"]] == ["passed", "false", "pending"]
    assert gate["cells"][0]["expr"] == GATE and "b.metrics.accuracy = 0.9" in gate["cells"][0]["summary"]
    (versions,) = body["diff"]["versions"]
    assert versions["workflow"] == "alice/demo" and versions["versions"] == ["1.0.0", "1.1.0"]
    assert versions["links"] == [{"from": "1.0.0", "to": "1.1.0", "url": "/w/alice/demo/diff?from=1.0.0&to=1.1.0"}]
    spec_rows = {r["key"]: r for r in body["diff"]["spec"]}
    assert spec_rows["steps.c.when"]["values"] == [GATE, "b.metrics.accuracy >= 0.9", "b.metrics.accuracy >= 0.9"]
    assert spec_rows["steps.c.when"]["same"] is False and spec_rows["steps.b.depends_on"]["same"] is True
    params = {r["key"]: r for r in body["diff"]["params"]}
    assert params["n"]["values"] == ["3", "3", "3"]  # a workflow run's inputs, defaults filled in
