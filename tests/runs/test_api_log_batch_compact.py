"""The compact (columnar) log-batch form: stored, summarised (best steps too), idempotent,
limited, all or nothing; read back through the API."""
from __future__ import annotations

import json

import pytest

from runs.models import IngestBatch, Metric, MetricSummary, RunParam, RunTag
from runs.services import metric_ingest
from core.errors import InvalidInput
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch
from tests.factories import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    return run_create_tracked(user=user, experiment="compact")


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def url(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}/log-batch"


def summaries(client, run_id: int) -> dict:
    body = client.get(f"/api/v1/runs/{run_id}").json()
    return {m["key"]: {k: v for k, v in m.items() if k != "key"} for m in body["metrics"]}


def history(client, run_id: int, key: str) -> list[tuple]:
    points = client.get(f"/api/v1/runs/{run_id}/metrics/{key}").json()["points"]
    return [(p["step"], p["value"], p["timestamp"]) for p in points]


def test_it_stores_the_compact_form_and_reads_it_back(client, run):
    body = {
        "batch_id": "c1",
        "metrics": {
            "loss": {"step": [0, 1, 2, 3], "value": [0.9, 0.4, 0.6, 0.4], "timestamp": [10, 11, 12, 13]},
            "acc": {"value": [0.5, 7], "step": [5, 6]},  # an int value is a float; no timestamps: now
        },
        "params": {"lr": 0.01},
        "tags": {"stage": "dev"},
    }
    response = client.post(url(run.pk), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"stored": True}

    assert history(client, run.pk, "loss") == [(0, 0.9, 10), (1, 0.4, 11), (2, 0.6, 12), (3, 0.4, 13)]
    acc = history(client, run.pk, "acc")
    assert [(s, v) for s, v, _ in acc] == [(5, 0.5), (6, 7.0)] and all(t > 1_600_000_000_000 for *_, t in acc)
    assert summaries(client, run.pk) == {
        # min 0.4 first reached at step 1 (again at 3): the earliest step is the best step.
        "loss": {"last": 0.4, "last_step": 3, "min": 0.4, "min_step": 1, "max": 0.9, "max_step": 0, "count": 4},
        "acc": {"last": 7.0, "last_step": 6, "min": 0.5, "min_step": 5, "max": 7.0, "max_step": 6, "count": 2},
    }
    detail = client.get(f"/api/v1/runs/{run.pk}").json()
    assert detail["logged_params"] == {"lr": "0.01"} and detail["tags"] == {"stage": "dev"}


def test_best_steps_follow_the_values_across_batches(client, run):
    def send(steps, values):
        assert client.post(url(run.pk), {"metrics": {"loss": {"step": steps, "value": values}}}, format="json").status_code == 200

    send([10, 11], [5.0, 3.0])
    send([12, 13], [1.0, 9.0])  # a new min and a new max
    send([2], [1.0])  # the same min at an earlier step: that step is now the best
    send([20], [9.0])  # the same max later: the earlier step stays
    got = summaries(client, run.pk)["loss"]
    assert got == {"last": 9.0, "last_step": 20, "min": 1.0, "min_step": 2, "max": 9.0, "max_step": 13, "count": 6}


def test_both_forms_agree(client, run, user):
    points = [{"key": "k", "value": float(i % 7) - 3, "step": (i * 5) % 11, "timestamp": 1000 + i} for i in range(50)]
    assert client.post(url(run.pk), {"metrics": points}, format="json").status_code == 200
    other = run_create_tracked(user=user, experiment="compact")
    columns = {"k": {"step": [p["step"] for p in points], "value": [p["value"] for p in points],
                     "timestamp": [p["timestamp"] for p in points]}}
    assert client.post(url(other.pk), {"metrics": columns}, format="json").status_code == 200
    assert history(client, run.pk, "k") == history(client, other.pk, "k")
    assert summaries(client, run.pk) == summaries(client, other.pk)


def test_a_retried_compact_batch_is_stored_once(client, run):
    body = {"batch_id": "again", "metrics": {"loss": {"step": [1, 2], "value": [0.5, 0.25]}}}
    assert client.post(url(run.pk), body, format="json").json() == {"stored": True}
    assert client.post(url(run.pk), body, format="json").json() == {"stored": False}
    assert Metric.objects.filter(run=run).count() == 2
    assert summaries(client, run.pk)["loss"]["count"] == 2
    assert IngestBatch.objects.filter(run=run).count() == 1


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ({"value": [1.0, "0.5"]}, "non-numeric"),
        ({"value": [1.0, True]}, "non-numeric"),
        ({"value": [1.0, None]}, "non-numeric"),
        ({"value": [1.0, 2.0], "step": [0]}, "as long as 'value'"),
        ({"value": [1.0], "timestamp": [1, 2]}, "as long as 'value'"),
        ({"value": [1.0, 2.0], "step": [0, 1.5]}, "non-integer step"),
        ({"value": [1.0], "step": [2**63]}, "out of range"),
        ({"value": [1.0], "timestamp": ["yesterday"]}, "bad timestamp"),
        ({"value": 1.0}, "needs a list 'value'"),
        ({"value": [1.0], "steps": [1]}, "unknown columns"),
        ([1.0, 2.0], "object of lists"),
    ],
)
def test_a_bad_compact_batch_is_refused_naming_the_problem_and_stores_nothing(client, run, columns, words):
    body = {"batch_id": "bad", "metrics": {"fine": {"value": [1.0, 2.0]}, "loss": columns},
            "params": {"p": "1"}, "tags": {"t": "1"}}
    error = assert_error(client.post(url(run.pk), body, format="json"), 400, "invalid", "metrics")
    assert words in error["message"]
    assert not Metric.objects.exists() and not MetricSummary.objects.exists()
    assert not RunParam.objects.exists() and not RunTag.objects.exists() and not IngestBatch.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_in_the_compact_form(client, run, literal):
    body = '{"metrics": {"ok": {"value": [1.0]}, "loss": {"value": [0.5, %s, 0.25]}}}' % literal
    # DRF's JSON parser already refuses these literals (400 parse_error); the service refuses
    # them too when they arrive some other way (see test_api_log_batch).
    error = assert_error(client.post(url(run.pk), body, content_type="application/json"), 400)
    assert literal in error["message"]
    assert not Metric.objects.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_the_service_refuses_non_finite_values_in_columns(run, value):
    with pytest.raises(InvalidInput) as exc:
        log_batch(run=run, metrics={"ok": {"value": [1.0]}, "loss": {"value": [0.5, value]}}, batch_id="b")
    assert exc.value.field == "metrics" and "loss" in exc.value.message and "refused" in exc.value.message
    assert not Metric.objects.exists() and not IngestBatch.objects.exists()


def test_large_finite_values_whose_sum_overflows_are_stored(client, run):
    values = [1.7e308, 1.7e308, -1.7e308]
    assert client.post(url(run.pk), {"metrics": {"big": {"value": values}}}, format="json").status_code == 200
    assert [v for _, v, _ in history(client, run.pk, "big")] == values


def test_the_point_limit_is_counted_over_every_key(client, run, monkeypatch):
    monkeypatch.setattr(metric_ingest, "MAX_METRICS_PER_BATCH", 10)
    body = {"metrics": {"a": {"value": [1.0] * 6}, "b": {"value": [1.0] * 5}}}
    error = assert_error(client.post(url(run.pk), body, format="json"), 400, "invalid", "metrics")
    assert "at most 10 metric points" in error["message"]
    body = {"metrics": {"a": {"value": [1.0] * 5}, "b": {"value": [1.0] * 5}}}
    assert client.post(url(run.pk), body, format="json").status_code == 200
    assert Metric.objects.filter(run=run).count() == 10


def test_a_key_over_the_length_limit_is_refused_naming_the_limit(client, run):
    body = {"metrics": {"k" * 251: {"value": [1.0]}}}
    error = assert_error(client.post(url(run.pk), body, format="json"), 400, "invalid", "metrics")
    assert "250 characters" in error["message"]
    assert not Metric.objects.exists()


def test_odd_keys_are_stored_exactly(client, run):
    keys = ["tab\tkey", "back\\slash", "new\nline", "{braces}", "ünïcode ✓"]
    body = {"metrics": {k: {"value": [float(i)], "step": [i]} for i, k in enumerate(keys)}}
    assert client.post(url(run.pk), json.dumps(body), content_type="application/json").status_code == 200
    assert dict(Metric.objects.filter(run=run).values_list("key", "value")) == {k: float(i) for i, k in enumerate(keys)}
