"""The SDK sends metrics in the compact batch form; a live server stores them, and the
history, its export, its sample and the summaries read back what was logged."""
from __future__ import annotations

import csv
import io
import json
import math

import httpx
import pytest

import flowdeck
from flowdeck import tracking
from flowdeck.client import Client

pytestmark = pytest.mark.django_db(transaction=True)


def get(server, path: str) -> httpx.Response:
    response = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {server.token}"}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response


def test_logged_metrics_come_back_whole_exported_sampled_and_summarised(server, monkeypatch):
    sent_forms = []
    original = Client.log_batch

    def watching(self, run_id, *, metrics=(), **kwargs):
        if metrics:
            sent_forms.append(type(metrics))
        return original(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(Client, "log_batch", watching)

    n = 3 * tracking.BATCH_POINTS + 17  # several batches
    loss = [math.exp(-i / 2000) + (0.25 if i == 4321 else 0.0) for i in range(n)]
    with flowdeck.start_run(experiment="compact", name="round-trip") as run:
        for i, value in enumerate(loss):
            flowdeck.log_metrics({"loss": value, "acc": 1 - value / 2}, step=i)

    assert sent_forms and set(sent_forms) == {dict}  # every metrics batch went in the compact form

    summaries = {m["key"]: m for m in get(server, f"/api/v1/runs/{run.id}").json()["metrics"]}
    best = min(range(n), key=lambda i: (loss[i], i))
    assert summaries["loss"]["count"] == n and summaries["loss"]["last_step"] == n - 1
    assert (summaries["loss"]["min"], summaries["loss"]["min_step"]) == (loss[best], best)
    assert (summaries["loss"]["max"], summaries["loss"]["max_step"]) == (max(loss), 0)
    assert (summaries["acc"]["max"], summaries["acc"]["max_step"]) == (1 - loss[best] / 2, best)

    whole = get(server, f"/api/v1/runs/{run.id}/metrics/loss").json()["points"]
    assert [(p["step"], p["value"]) for p in whole] == list(enumerate(loss))

    with Client(server.url, server.token) as client:
        assert client.metric_history(run.id, "loss") == whole
        assert client.metric_columns(run.id, "loss")["value"] == loss

    lines = get(server, f"/api/v1/runs/{run.id}/metrics/loss/export?format=jsonl").text.splitlines()
    assert [json.loads(line)["value"] for line in lines] == loss
    rows = list(csv.DictReader(io.StringIO(get(server, f"/api/v1/runs/{run.id}/metrics/loss/export?format=csv").text)))
    assert [(int(r["step"]), float(r["value"])) for r in rows] == list(enumerate(loss))

    sample = get(server, f"/api/v1/runs/{run.id}/metrics/loss?max_points=200").json()
    points = [(p["step"], p["value"]) for p in sample["points"]]
    assert sample["sampled"] and sample["total"] == n and len(points) <= 200
    assert points[0] == (0, loss[0]) and points[-1] == (n - 1, loss[-1])
    assert (4321, loss[4321]) in points  # the bump survives the sampling
