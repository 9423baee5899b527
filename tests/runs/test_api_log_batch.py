"""POST /api/v1/runs/<id>/log-batch: metrics, params and tags, read back from the run."""
from __future__ import annotations

import json

import pytest

from accounts.services import token_create_for_run
from core.errors import InvalidInput
from runs.models import Metric, MetricSummary, RunParam, RunTag
from runs.services.lifecycle import run_start
from runs.services.tracking import log_batch
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(user):
    return publish(user)


@pytest.fixture
def run(user, version):
    return run_start(user=user, version=version)


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def url(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}/log-batch"


def summaries(client, run_id: int) -> dict:
    body = client.get(f"/api/v1/runs/{run_id}").json()
    return {m["key"]: {k: m[k] for k in ("last", "last_step", "min", "max", "count")} for m in body["metrics"]}


def test_it_stores_a_batch_and_reads_it_back(client, run):
    response = client.post(
        url(run.pk),
        {
            "batch_id": "b1",
            "metrics": [
                {"key": "loss", "value": 0.9, "step": 0},
                {"key": "loss", "value": 0.4, "step": 2},
                {"key": "loss", "value": 0.6, "step": 1},
                {"key": "acc", "value": 0.5},
            ],
            "params": {"lr": 0.01, "optimizer": "adam"},
            "tags": {"stage": "dev"},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"stored": True}

    body = client.get(f"/api/v1/runs/{run.pk}").json()
    assert body["logged_params"] == {"lr": "0.01", "optimizer": "adam"}
    assert body["tags"] == {"stage": "dev"}
    assert summaries(client, run.pk) == {
        "acc": {"last": 0.5, "last_step": 0, "min": 0.5, "max": 0.5, "count": 1},
        "loss": {"last": 0.4, "last_step": 2, "min": 0.4, "max": 0.9, "count": 3},
    }
    history = client.get(f"/api/v1/runs/{run.pk}/metrics/loss").json()
    assert [(p["step"], p["value"]) for p in history["points"]] == [(0, 0.9), (1, 0.6), (2, 0.4)]


def test_it_updates_summaries_across_batches(client, run):
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 1.0, "step": 5}]}, format="json")
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 3.0, "step": 3}]}, format="json")
    assert summaries(client, run.pk)["loss"] == {"last": 1.0, "last_step": 5, "min": 1.0, "max": 3.0, "count": 2}
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 0.1, "step": 6}]}, format="json")
    assert summaries(client, run.pk)["loss"] == {"last": 0.1, "last_step": 6, "min": 0.1, "max": 3.0, "count": 3}
    client.post(url(run.pk), {"tags": {"stage": "prod"}}, format="json")
    client.post(url(run.pk), {"tags": {"stage": "final"}}, format="json")  # tags may change
    assert client.get(f"/api/v1/runs/{run.pk}").json()["tags"] == {"stage": "final"}


def test_it_stores_a_retried_batch_once(client, run):
    batch = {"batch_id": "same-id", "metrics": [{"key": "loss", "value": 0.5, "step": 1}], "params": {"seed": 1}}
    assert client.post(url(run.pk), batch, format="json").json() == {"stored": True}
    assert client.post(url(run.pk), batch, format="json").json() == {"stored": False}
    assert Metric.objects.filter(run=run).count() == 1
    assert summaries(client, run.pk)["loss"]["count"] == 1


def test_it_refuses_nan_in_json_and_stores_nothing_from_that_batch(client, run):
    body = json.dumps({"metrics": [{"key": "ok", "value": 1.0}, {"key": "loss", "value": float("nan")}], "params": {"a": 1}})
    assert "NaN" in body
    assert_error(client.post(url(run.pk), body, content_type="application/json"), 400)
    assert not Metric.objects.exists() and not RunParam.objects.exists() and not MetricSummary.objects.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_the_service_refuses_non_finite_values_and_stores_nothing(run, value):
    with pytest.raises(InvalidInput) as exc:
        log_batch(run=run, metrics=[{"key": "ok", "value": 1.0}, {"key": "loss", "value": value}], params={"a": "1"}, tags={"t": "1"}, batch_id="b")
    assert exc.value.field == "metrics" and "loss" in exc.value.message
    assert not Metric.objects.exists() and not RunParam.objects.exists() and not RunTag.objects.exists()
    # The batch id was not spent: the corrected batch can be sent again under it.
    assert log_batch(run=run, metrics=[{"key": "loss", "value": 0.5}], batch_id="b") is True


@pytest.mark.parametrize(
    ("metric", "field"),
    [
        ({"key": "loss", "value": "0.5"}, "metrics"),
        ({"key": "loss", "value": True}, "metrics"),
        ({"key": "", "value": 1}, "metrics"),
        ({"key": "loss", "value": 1, "step": 1.5}, "metrics"),
        ({"key": "loss", "value": 1, "step": 2**63}, "metrics"),
        ({"key": "loss", "value": 1, "timestamp": "yesterday"}, "metrics"),
        ({"key": "loss", "value": 1, "timestamp": True}, "metrics"),
        ({"key": "lo\x00ss", "value": 1}, "metrics"),
        ({"key": ["loss"], "value": 1}, "metrics"),
        ("loss", "metrics"),
    ],
)
def test_it_refuses_malformed_metrics(client, run, metric, field):
    assert_error(client.post(url(run.pk), {"metrics": [{"key": "ok", "value": 1}, metric]}, format="json"), 400, "invalid", field)
    assert not Metric.objects.exists()


def test_it_refuses_to_change_a_logged_param(client, run):
    assert client.post(url(run.pk), {"params": {"lr": "0.1"}}, format="json").status_code == 200
    assert client.post(url(run.pk), {"params": {"lr": "0.1"}}, format="json").status_code == 200  # same value: fine
    error = assert_error(
        client.post(url(run.pk), {"params": {"lr": "0.2"}, "metrics": [{"key": "loss", "value": 1}]}, format="json"),
        400, "invalid", "params",
    )
    assert "lr" in error["message"]
    assert dict(RunParam.objects.values_list("key", "value")) == {"lr": "0.1"}
    assert not Metric.objects.exists()


def test_a_run_token_logs_to_its_own_run_only(client, user, version, run):
    other_run = run_start(user=user, version=version)
    _token, plaintext = token_create_for_run(user=user, run_id=run.pk)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    response = client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 0.3}], "params": {"k": "v"}}, format="json")
    assert response.status_code == 200, response.content
    assert_error(client.post(url(other_run.pk), {"metrics": [{"key": "loss", "value": 0.3}]}, format="json"), 404, "not_found")
    assert not Metric.objects.filter(run=other_run).exists()

    assert_error(client.get("/api/v1/me"), 403)
    assert_error(client.post("/api/v1/runs", {"workflow": "alice/demo"}, format="json"), 403)
    assert_error(client.get("/api/v1/runs"), 403)
    assert_error(client.get(f"/api/v1/runs/{run.pk}"), 403)
    assert_error(client.post(f"/api/v1/runs/{run.pk}/stop"), 403)
    assert RunParam.objects.get(run=run).value == "v"


def test_others_may_not_log_to_my_run(run, other_user, auth_client):
    bob = auth_client(other_user)
    assert_error(bob.post(url(run.pk), {"metrics": [{"key": "loss", "value": 1}]}, format="json"), 404, "not_found")
    assert not Metric.objects.exists()


def test_it_refuses_a_body_that_is_not_an_object(client, run):
    assert_error(client.post(url(run.pk), [1, 2], format="json"), 400, "invalid")


def test_summaries_match_the_stored_points_over_many_batches(client, run):
    """The summary upsert (and PostgreSQL's COPY path) agree with the points themselves:
    several keys, steps out of order, ties on a step, and odd characters in keys."""
    import random

    rng = random.Random(7)
    keys = ["loss", "val/acc", "tab\tkey", "back\\slash", "new\nline", "ünïcode ✓"]
    for b in range(6):
        batch = [{"key": rng.choice(keys), "value": rng.uniform(-1e6, 1e6) if i % 7 else rng.random() * 1e-12,
                  "step": rng.randrange(0, 40), "timestamp": 1_700_000_000_000 + i} for i in range(300)]
        batch.append({"key": "int", "value": 3})  # an integer value is stored as a float
        assert client.post(url(run.pk), {"batch_id": f"b{b}", "metrics": batch}, format="json").status_code == 200

    stored = list(Metric.objects.filter(run=run).order_by("pk").values_list("key", "step", "value", "timestamp_ms"))
    assert len(stored) == 6 * 301
    assert {k for k, *_ in stored} == set(keys) | {"int"}
    got = summaries(client, run.pk)
    for key in set(keys) | {"int"}:
        rows = [(step, value) for k, step, value, _ in stored if k == key]
        top = max(step for step, _ in rows)
        assert got[key]["count"] == len(rows)
        assert got[key]["min"] == min(v for _, v in rows) and got[key]["max"] == max(v for _, v in rows)
        assert got[key]["last_step"] == top
        assert got[key]["last"] in [v for step, v in rows if step == top]  # a tie on the step: one of them
    history = client.get(f"/api/v1/runs/{run.pk}/metrics/tab%09key").json()["points"]
    assert len(history) == sum(1 for k, *_ in stored if k == "tab\tkey")


def test_a_later_point_on_the_same_step_wins_the_summary(client, run):
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 1.0, "step": 3}, {"key": "loss", "value": 2.0, "step": 3}]}, format="json")
    assert summaries(client, run.pk)["loss"] == {"last": 2.0, "last_step": 3, "min": 1.0, "max": 2.0, "count": 2}
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": 5.0, "step": 3}]}, format="json")
    assert summaries(client, run.pk)["loss"] == {"last": 5.0, "last_step": 3, "min": 1.0, "max": 5.0, "count": 3}
    client.post(url(run.pk), {"metrics": [{"key": "loss", "value": -1.0, "step": 2}]}, format="json")
    assert summaries(client, run.pk)["loss"] == {"last": 5.0, "last_step": 3, "min": -1.0, "max": 5.0, "count": 4}


def test_a_body_over_the_upload_limit_gets_413_not_500(client, run, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"metrics": [{"key": "loss", "value": 0.5, "step": i} for i in range(1000)]}
    error = assert_error(client.post(url(run.pk), body, format="json"), 413, "too_large")
    assert "limit of 10,000 bytes" in error["message"]
    assert not Metric.objects.exists()



def test_deleting_a_run_deletes_its_points(run):
    """Metric.run has no database constraint (see the model); Django's cascade still applies."""
    log_batch(run=run, metrics=[{"key": "loss", "value": 1.0, "step": i} for i in range(10)])
    assert Metric.objects.filter(run=run).count() == 10
    run_id = run.pk
    run.delete()
    assert not Metric.objects.filter(run_id=run_id).exists()
    assert not MetricSummary.objects.filter(run_id=run_id).exists()


def test_points_for_a_run_that_is_gone_are_refused(run):
    from core.errors import NotFound
    from runs.models import Run

    stale = Run.objects.get(pk=run.pk)
    Run.objects.filter(pk=run.pk).delete()
    with pytest.raises(NotFound):
        log_batch(run=stale, metrics=[{"key": "loss", "value": 1.0}], batch_id="late")
    assert not Metric.objects.exists()
