"""log-batch's limits (each a 400 naming the limit), and replays and failures that store
nothing: the points, the summaries, the params and the tags of a batch go in together or
not at all, also when the same batch arrives twice at the same moment."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from runs.models import IngestBatch, Metric, MetricSummary, RunParam, RunTag
from runs.services import tracking
from runs.services.lifecycle import run_start
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    return run_start(user=user, version=publish(user))


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def url(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}/log-batch"


def stored(run) -> tuple:
    return (Metric.objects.filter(run=run).count(), list(MetricSummary.objects.filter(run=run).values_list("key", "count")),
            dict(RunParam.objects.filter(run=run).values_list("key", "value")),
            dict(RunTag.objects.filter(run=run).values_list("key", "value")))


@pytest.mark.parametrize("body, words", [
    ({"params": {f"p{i}": "1" for i in range(1001)}}, "at most 1000 params"),
    ({"tags": {f"t{i}": "1" for i in range(1001)}}, "at most 1000 params and tags"),
    ({"params": {"lr": "x" * 6001}}, "longer than 6000 characters"),
    ({"tags": {"team": "x" * 6001}}, "longer than 6000 characters"),
    ({"params": {"k" * 251: "1"}}, "longer than 250 characters"),
    ({"tags": {"": "1"}}, "non-empty string"),
])
def test_params_and_tags_over_the_limits_are_400_naming_the_limit(client, run, body, words):
    body = {**body, "metrics": {"loss": {"value": [1.0, 2.0]}}}
    error = assert_error(client.post(url(run.pk), body, format="json"), 400, "invalid")
    assert words in error["message"]
    assert error["field"] in ("params", "tags")
    assert stored(run) == (0, [], {}, {})


def test_a_replayed_batch_with_params_tags_and_metrics_changes_nothing(client, run):
    body = {"batch_id": "b-1", "metrics": {"loss": {"value": [3.0, 2.0], "step": [0, 1]}},
            "params": {"lr": "0.1"}, "tags": {"team": "cv"}}
    assert client.post(url(run.pk), body, format="json").json() == {"stored": True}
    first = stored(run)
    assert first == (2, [("loss", 2)], {"lr": "0.1"}, {"team": "cv"})
    assert client.post(url(run.pk), body, format="json").json() == {"stored": False}
    assert stored(run) == first


def test_a_param_conflict_leaves_no_point_no_summary_and_no_batch_id(client, run):
    assert client.post(url(run.pk), {"params": {"lr": "0.1"}}, format="json").status_code == 200
    body = {"batch_id": "b-2", "params": {"lr": "0.2"}, "tags": {"team": "cv"},
            "metrics": {"loss": {"value": [1.0]}}}
    assert_error(client.post(url(run.pk), body, format="json"), 400, "invalid", "params")
    assert stored(run) == (0, [], {"lr": "0.1"}, {})
    assert not IngestBatch.objects.filter(run=run).exists()  # so a corrected retry of b-2 is stored
    body["params"] = {"lr": "0.1"}
    assert client.post(url(run.pk), body, format="json").json() == {"stored": True}
    assert stored(run) == (1, [("loss", 1)], {"lr": "0.1"}, {"team": "cv"})


def test_several_keys_in_one_batch_each_get_their_points_and_summary(client, run):
    body = {"metrics": {"b": {"value": [5.0, 1.0, 3.0], "step": [0, 1, 2]}, "a": {"value": [0.5], "step": [7]}}}
    assert client.post(url(run.pk), body, format="json").status_code == 200
    rows = {s.key: (s.last, s.last_step, s.min, s.min_step, s.max, s.max_step, s.count)
            for s in MetricSummary.objects.filter(run=run)}
    assert rows == {"a": (0.5, 7, 0.5, 7, 0.5, 7, 1), "b": (3.0, 2, 1.0, 1, 5.0, 0, 3)}
    assert sorted(Metric.objects.filter(run=run).values_list("key", "step", "value")) == [
        ("a", 7, 0.5), ("b", 0, 5.0), ("b", 1, 1.0), ("b", 2, 3.0)]


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_at_the_same_moment_on_two_connections_is_stored_once(user):
    run = run_create_tracked(user=user, experiment="race", name="r", namespace=None, tags={})
    metrics = {"loss": {"value": [float(i) for i in range(2000)], "step": list(range(2000))}}
    start = threading.Barrier(4)
    answers, errors = [], []

    def send() -> None:
        try:
            start.wait()
            answers.append(log_batch(run=run, metrics=metrics, batch_id="same"))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(answers) == [False, False, False, True]
    assert Metric.objects.filter(run=run).count() == 2000
    assert MetricSummary.objects.get(run=run, key="loss").count == 2000


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_one_key_fold_into_one_exact_summary(user):
    run = run_create_tracked(user=user, experiment="race", name="r", namespace=None, tags={})
    start = threading.Barrier(4)
    errors = []

    def send(i: int) -> None:
        try:
            start.wait()
            steps = list(range(i * 500, (i + 1) * 500))
            log_batch(run=run, metrics={"loss": {"value": [float(s % 97) for s in steps], "step": steps}},
                      batch_id=f"b{i}")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    s = MetricSummary.objects.get(run=run, key="loss")
    assert (s.count, s.last_step, s.last, s.min, s.min_step, s.max, s.max_step) == (2000, 1999, float(1999 % 97), 0.0, 0,
                                                                                    96.0, 96)


def test_a_run_deleted_before_its_batch_is_404_and_stores_nothing(client, run):
    run_id = run.pk
    run.delete()
    assert_error(client.post(url(run_id), {"metrics": {"loss": {"value": [1.0]}}}, format="json"), 404)
    assert not Metric.objects.filter(run_id=run_id).exists()
    with pytest.raises(tracking.NotFound):
        log_batch(run=run, metrics={"loss": {"value": [1.0]}}, batch_id="x")
    assert not MetricSummary.objects.filter(run_id=run_id).exists()
