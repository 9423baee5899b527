"""A metric's history: whole, streamed as JSON lines or CSV, and downsampled for charts."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest
from django.db import connection

from runs.models import Metric, MetricChunk, MetricSummary
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch
from tests.factories import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    return run_create_tracked(user=user, experiment="history")


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def logged(run, n: int = 25_000, seed: int = 3) -> list[tuple[int, float, int]]:
    """Logs n points of "loss" (values that need every digit, steps out of order, two points
    on one step) in two batches; returns them ordered as the history is."""
    rng = random.Random(seed)
    points = [(i, rng.uniform(-1e3, 1e3) * 10 ** rng.randrange(-300, 300), 1_700_000_000_000 + i) for i in range(n)]
    points.append((7, 0.1 + 0.2, 1_700_000_000_000 + n))  # a second point at step 7, later
    rng.shuffle(points)
    for part in (points[: n // 2], points[n // 2:]):
        log_batch(run=run, metrics={"loss": {"step": [p[0] for p in part], "value": [p[1] for p in part],
                                             "timestamp": [p[2] for p in part]}})
    return sorted(points, key=lambda p: (p[0], p[2]))


def test_the_full_history_is_every_point_in_step_order(client, run):
    expected = logged(run, n=3000)
    body = client.get(f"/api/v1/runs/{run.pk}/metrics/loss").json()
    assert body["key"] == "loss"
    assert [(p["step"], p["value"], p["timestamp"]) for p in body["points"]] == expected
    assert client.get(f"/api/v1/runs/{run.pk}/metrics/nothing").json() == {"key": "nothing", "points": []}


def test_the_history_as_columns_is_the_same_points(client, run):
    expected = logged(run, n=3000)
    body = client.get(f"/api/v1/runs/{run.pk}/metrics/loss?columns=1").json()
    assert body["key"] == "loss"
    assert list(zip(body["step"], body["value"], body["timestamp"], strict=True)) == expected
    empty = client.get(f"/api/v1/runs/{run.pk}/metrics/nothing?columns=1").json()
    assert empty == {"key": "nothing", "step": [], "value": [], "timestamp": []}


def test_the_jsonl_export_streams_every_point_back_equal(client, run):
    expected = logged(run)
    response = client.get(f"/api/v1/runs/{run.pk}/metrics/loss/export?format=jsonl")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    chunks = list(response.streaming_content)
    assert len(chunks) > 1  # relayed in blocks, not built whole
    lines = b"".join(chunks).decode().splitlines()
    assert [(p["step"], p["value"], p["timestamp"]) for p in map(json.loads, lines)] == expected


def test_the_csv_export_streams_every_point_back_equal(client, run):
    expected = logged(run)
    response = client.get(f"/api/v1/runs/{run.pk}/metrics/loss/export?format=csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["step", "value", "timestamp"]
    assert [(int(s), float(v), int(t)) for s, v, t in rows[1:]] == expected


def test_an_unknown_export_format_is_refused(client, run):
    assert_error(client.get(f"/api/v1/runs/{run.pk}/metrics/loss/export?format=xml"), 400, "invalid", "format")


def test_others_cannot_read_or_export_my_metrics(run, other_user, auth_client):
    logged(run, n=10)
    bob = auth_client(other_user)
    for path in ("", "/export?format=csv", "?max_points=100"):
        assert_error(bob.get(f"/api/v1/runs/{run.pk}/metrics/loss{path}"), 404, "not_found")


def test_a_short_series_is_not_sampled(client, run):
    expected = logged(run, n=500)
    body = client.get(f"/api/v1/runs/{run.pk}/metrics/loss?max_points=2000").json()
    assert body["sampled"] is False and body["total"] == 501
    assert [(p["step"], p["value"], p["timestamp"]) for p in body["points"]] == expected


@pytest.mark.parametrize("raw", ["0", "9", "10001", "lots"])
def test_max_points_out_of_range_is_refused(client, run, raw):
    assert_error(client.get(f"/api/v1/runs/{run.pk}/metrics/loss?max_points={raw}"), 400, "invalid", "max_points")


def _million_points(run) -> None:
    """1,000,000 points made in the database: a noisy decay with one deep dip and one spike,
    stored as the ingest path stores them (chunks of 1,000 points in step order), and the
    summary it would have kept."""
    value = ("CASE WHEN g = 123457 THEN -50.0 WHEN g = 777777 THEN 99.0 "
             "ELSE 1.0 / (1 + g / 1000.0) + ((g::bigint * 7919) %% 1000) / 1e4 END")
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {MetricChunk._meta.db_table} (run_id, key, origin, step_min, step_max, steps, "values", timestamps) '
            f"SELECT %s, 'loss', NULL, min(g), max(g), array_agg(g::bigint ORDER BY g), array_agg(({value})::float8 ORDER BY g), "
            f"array_agg(1700000000000 + g ORDER BY g) FROM generate_series(0, 999999) AS g GROUP BY g / 1000",
            [run.pk],
        )
    MetricSummary.objects.create(run=run, key="loss", last=0, last_step=999_999, min=-50.0, min_step=123_457,
                                 max=99.0, max_step=777_777, count=1_000_000)


def test_a_million_points_come_back_as_at_most_2000_that_keep_the_shape(client, run):
    if connection.vendor != "postgresql":
        pytest.skip("generate_series is PostgreSQL's; on SQLite the same sample is made in Python (_sample_rows)")
    _million_points(run)
    body = client.get(f"/api/v1/runs/{run.pk}/metrics/loss?max_points=2000").json()
    points = [(p["step"], p["value"]) for p in body["points"]]
    assert body["sampled"] is True and body["total"] == 1_000_000
    assert 1000 < len(points) <= 2000
    assert points == sorted(points)
    assert points[0][0] == 0 and points[-1][0] == 999_999  # the first and the last point
    assert (123_457, -50.0) in points and (777_777, 99.0) in points  # the global min and max
    # Every bucket keeps its own extremes: the largest value logged after step 500,000 (but
    # the spike) is in the sample.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(value) FROM {Metric._meta.db_table} WHERE run_id = %s AND step BETWEEN 500000 AND 700000",
                       [run.pk])
        local_max = cursor.fetchone()[0]
    assert any(v == local_max for s, v in points if 500_000 <= s <= 700_000)


def test_the_sampled_python_path_matches_the_sql_one(run):
    """SQLite samples in Python; both ways pick the same points."""
    from runs import metric_selectors

    logged(run, n=6000)
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for the SQL side")
    by_sql = metric_selectors._sample_sql(run.pk, "loss", 99)
    by_python = metric_selectors._sample_rows(run, "loss", 99)
    assert [(s, v) for s, v, _ in by_sql] == [(s, v) for s, v, _ in by_python]
    assert len(by_sql) <= 2 * 99 + 2


def test_the_run_page_chart_gets_a_sample(client, run):
    logged(run, n=5000)
    from runs.metric_selectors import metric_series_sampled

    series = metric_series_sampled(run=run, max_points=100)
    assert set(series) == {"loss"} and len(series["loss"]["step"]) <= 100
