"""PostgreSQL stores a batch's points of one key as one chunk row; every reader gets the
same points, in (step, time) order, whether the chunks follow one another or overlap."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection

from compare.series import values_at_step
from runs import metric_chunks
from runs.metric_selectors import _sample_rows, _sample_sql, metric_history_json, metric_sampled
from runs.models import Metric, MetricChunk
from runs.services.reaper import _summary_rebuild
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    if connection.vendor != "postgresql":
        pytest.skip("chunks are PostgreSQL's; SQLite keeps a row per point")
    return run_create_tracked(user=user, experiment="chunks")


def send(run, points, *, origin=None):
    log_batch(run=run, metrics={"loss": {"step": [p[0] for p in points], "value": [p[1] for p in points],
                                         "timestamp": [p[2] for p in points]}}, origin=origin)


def point(step: int, ts_offset: int = 0) -> tuple[int, float, int]:
    return step, 1.0 / (step + 3) + ts_offset * 1e-9, 1_700_000_000_000 + step * 10 + ts_offset


def export(client, run, fmt: str) -> list[tuple]:
    body = b"".join(client.get(f"/api/v1/runs/{run.pk}/metrics/loss/export?format={fmt}").streaming_content).decode()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body)))[1:]
        return [(int(s), float(v), int(t)) for s, v, t in rows]
    return [(p["step"], p["value"], p["timestamp"]) for p in map(json.loads, body.splitlines())]


def every_reader(client, run) -> dict[str, list[tuple]]:
    whole = json.loads(metric_history_json(run=run, key="loss"))["points"]
    cols = json.loads(metric_history_json(run=run, key="loss", columns=True))
    return {
        "history": [(p["step"], p["value"], p["timestamp"]) for p in whole],
        "columns": list(zip(cols["step"], cols["value"], cols["timestamp"])),
        "jsonl": export(client, run, "jsonl"),
        "csv": export(client, run, "csv"),
        "view": list(Metric.objects.filter(run=run, key="loss").order_by("step", "timestamp_ms")
                     .values_list("step", "value", "timestamp_ms")),
    }


def test_batches_in_step_order_are_chunks_that_read_back_without_a_sort(user, run, auth_client):
    expected = [point(i) for i in range(2500)]
    for start in range(0, 2500, 1000):
        send(run, expected[start:start + 1000])
    assert MetricChunk.objects.filter(run=run).count() == 3
    with connection.cursor() as cursor:
        assert metric_chunks.disjoint(cursor, run.pk, "loss")
    for reader, got in every_reader(auth_client(user), run).items():
        assert got == expected, reader


def test_a_batch_sent_out_of_order_is_stored_in_step_order(user, run, auth_client):
    expected = [point(i) for i in range(300)]
    send(run, list(reversed(expected[:150])))
    send(run, expected[150:][::7] + [p for i, p in enumerate(expected[150:]) if i % 7])
    chunk = MetricChunk.objects.filter(run=run).order_by("step_min").first()
    assert chunk.steps == list(range(150)) and (chunk.step_min, chunk.step_max) == (0, 149)
    for reader, got in every_reader(auth_client(user), run).items():
        assert got == expected, reader


def test_overlapping_chunks_read_back_merged_in_step_then_time_order(user, run, auth_client):
    # Two writers on one key: interleaved steps, and step 5 logged by both (later one second).
    first = [point(i) for i in range(0, 400, 2)] + [point(5)]
    second = [point(i) for i in range(1, 400, 2) if i != 5] + [point(5, ts_offset=1)]
    send(run, first)
    send(run, second)
    with connection.cursor() as cursor:
        assert not metric_chunks.disjoint(cursor, run.pk, "loss")
    expected = sorted(first + second, key=lambda p: (p[0], p[2]))
    for reader, got in every_reader(auth_client(user), run).items():
        assert got == expected, reader
    by_sql = _sample_sql(run.pk, "loss", 20)
    assert by_sql == _sample_rows(run, "loss", 20)
    assert by_sql[0] == expected[0] and by_sql[-1] == expected[-1]


@pytest.mark.parametrize("step, want", [(-1, None), (0, 0), (1499, 1499), (1500, 1500), (1777, 1500), (10**6, 1999)])
def test_the_value_at_a_step_is_found_in_the_chunk_that_holds_it(run, step, want):
    # Chunks 0..999, 1000..1499 (every step), then 1500..1999 only every 500.
    send(run, [point(i) for i in range(1000)])
    send(run, [point(i) for i in range(1000, 1500)])
    send(run, [point(i) for i in (1500, 1999)])
    got = values_at_step(pairs=[(run.pk, "loss")], step=step)
    if want is None:
        assert got == {}
    else:
        assert got == {(run.pk, "loss"): {"step": want, "value": point(want)[1]}}


def test_points_written_through_the_view_and_deleted_through_it(run):
    """The ORM still writes (a one-point chunk each) and deletes (whole chunks) through
    runs_metric, so nothing needs to know how the points are stored."""
    Metric.objects.create(run=run, key="acc", step=3, value=0.75, timestamp_ms=1)
    Metric.objects.bulk_create([Metric(run=run, key="acc", step=s, value=s / 10, timestamp_ms=2) for s in (1, 2)])
    assert list(Metric.objects.filter(run=run, key="acc").order_by("step").values_list("step", "value")) == [
        (1, 0.1), (2, 0.2), (3, 0.75)]
    send(run, [point(i) for i in range(10)], origin=41)
    send(run, [point(i) for i in range(10, 20)], origin=42)
    Metric.objects.filter(run=run, origin=41).delete()
    assert json.loads(metric_history_json(run=run, key="loss", columns=True))["step"] == list(range(10, 20))
    _summary_rebuild(run.pk, "loss")
    assert metric_sampled(run=run, key="loss")["total"] == 10
    run.delete()
    assert not MetricChunk.objects.filter(run_id=run.pk).exists()
    assert not Metric.objects.filter(run_id=run.pk).exists()


def test_many_series_sampled_together_match_each_sampled_alone(user, run):
    """The compare page samples all its runs' series in two queries; each answer is the one
    the single-series sampler gives, chunks in order or overlapping."""
    other = run_create_tracked(user=user, experiment="chunks")
    for start in range(0, 3000, 1000):
        send(run, [point(i) for i in range(start, start + 1000)])
    send(other, [point(i) for i in range(0, 2000, 2)])
    send(other, [point(i) for i in range(1, 2000, 2)] + [point(8, ts_offset=1)])
    log_batch(run=other, metrics={"acc": {"step": [5], "value": [0.5], "timestamp": [1]}})
    pairs = [(run.pk, "loss"), (other.pk, "loss"), (other.pk, "acc"), (run.pk, "missing")]
    together = metric_chunks.sample_many(pairs, 50)
    assert set(together) == {(run.pk, "loss"), (other.pk, "loss"), (other.pk, "acc")}
    for run_id, key in together:  # the same points as the Python sampler (SQLite's) picks
        run_row = other if run_id == other.pk else run
        assert together[(run_id, key)] == _sample_rows(run_row, key, 50), (run_id, key)
    assert len(together[(run.pk, "loss")]) <= 2 * 50 + 2


def test_a_batch_of_a_point_for_each_of_11000_keys_is_stored_whole(run):
    """Six parameters per key's chunk would pass PostgreSQL's 65,535 in one statement: the
    keys past the first thousand go in further statements of the same transaction."""
    keys = [f"layer{i:05d}.grad_norm" for i in range(11_000)]
    assert log_batch(run=run, metrics={k: {"step": [3], "value": [i / 10]} for i, k in enumerate(keys)}, batch_id="many")
    assert not log_batch(run=run, metrics={k: {"step": [3], "value": [0.0]} for k in keys}, batch_id="many")  # a replay
    assert MetricChunk.objects.filter(run=run).count() == 11_000
    assert dict(Metric.objects.filter(run=run).values_list("key", "value")) == {k: i / 10 for i, k in enumerate(keys)}
