"""Migration ``metric_chunks`` moves every stored point into chunks and back, losing none."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def _nodes():
    graph = MigrationExecutor(connection).loader.graph
    (chunks,) = [n for n in graph.nodes if n[0] == "runs" and n[1].endswith("_metric_chunks")]
    (before,) = graph.node_map[chunks].parents
    return before.key, chunks, graph.leaf_nodes()


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets if isinstance(targets, list) else [targets])


def _points(cursor) -> list[tuple]:
    cursor.execute("SELECT run_id, key, step, value, timestamp_ms, origin FROM runs_metric ORDER BY run_id, key, step, timestamp_ms")
    return cursor.fetchall()


def test_points_stored_a_row_each_come_through_the_move_to_chunks_and_back():
    if connection.vendor != "postgresql":
        pytest.skip("the move is PostgreSQL's; SQLite keeps a row per point")
    before, chunks, leaves = _nodes()
    _migrate(before)
    try:
        rows = [(7, "loss", s, 1.0 / (s + 1), 1_700_000_000_000 + s, None) for s in range(250_000)]
        rows += [(7, "acc", s, s / 10, 5, 99) for s in (3, 1, 2)] + [(8, "loss", 0, 0.5, 1, None)]
        with connection.cursor() as cursor:
            with cursor.cursor.copy("COPY runs_metric (run_id, key, step, value, timestamp_ms, origin) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            _migrate(chunks)
            assert _points(cursor) == sorted(rows, key=lambda r: (r[0], r[1], r[2], r[4]))
            cursor.execute("SELECT run_id, key, origin, step_min, step_max, cardinality(steps) FROM runs_metricchunk "
                           "ORDER BY run_id, key, step_min")
            assert cursor.fetchall() == [(7, "acc", 99, 1, 3, 3), (7, "loss", None, 0, 99_999, 100_000),
                                         (7, "loss", None, 100_000, 199_999, 100_000),
                                         (7, "loss", None, 200_000, 249_999, 50_000), (8, "loss", None, 0, 0, 1)]
            _migrate(before)
            assert _points(cursor) == sorted(rows, key=lambda r: (r[0], r[1], r[2], r[4]))
    finally:
        _migrate(leaves)
