"""``flowdeck runs compare`` and the SDK's Client.compare / comparison_save / trend, against a
live server."""
from __future__ import annotations

import json

import pytest

from flowdeck.cli import main as cli
from flowdeck.client import Client
from tests.compare.tracked import track
from tests.factories import make_token, publish

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(live_server, user, monkeypatch):
    token = make_token(user)
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", token)
    return Client(live_server.url, token)


def test_the_cli_shows_differences_then_values_at_best_or_at_a_step(server, client, capsys):
    a = track(client, "a", params={"lr": 0.1, "opt": "adam"}, metrics={"loss": [1.0, 0.3, 0.5]})
    b = track(client, "b", params={"lr": 0.2, "opt": "adam"}, metrics={"loss": [1.0, 0.6, 0.4]})
    capsys.readouterr()
    assert cli(["runs", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "params.lr" in out and "params.opt" not in out and "0.5 @2" in out and "0.4 @2" in out
    assert f"/compare/?runs={a},{b}" in out
    assert cli(["runs", "compare", str(a), str(b), "--all", "--at", "best"]) == 0
    out = capsys.readouterr().out
    assert "params.opt" in out and "0.3 @1" in out and "0.4 @2" in out
    assert cli(["runs", "compare", str(a), str(b), "--at", "step", "--step", "1", "--json", "--save", "sweep"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert [m["value"] for m in body["metrics"]["loss"]] == [0.3, 0.6]
    assert body["saved"]["title"] == "sweep" and body["saved"]["options"] == {"at": "step", "step": 1}


def test_the_client_reads_compare_data_saved_views_and_trends(server, client, user):
    a = track(client, "a", params={"lr": 0.1}, metrics={"loss": [1.0, 0.5]})
    b = track(client, "b", params={"lr": 0.2}, metrics={"loss": [1.0, 0.25]})
    data = server.compare([a, b], at="best", keys=["loss"])
    assert data["metrics"]["table"][0]["best"] == [0.5, 0.25]
    assert [s["value"] for s in data["series"]["loss"]] == [[1.0, 0.5], [1.0, 0.25]]
    saved = server.comparison_save([a, b], title="pair", options={"log": True})
    assert saved["runs"] == [a, b] and saved["url"].startswith("/c/")
    publish(user)
    assert server.trend("alice/demo") == {"workflow": "alice/demo", "metric": "", "agg": "last", "goal": "max",
                                          "metrics": [], "runs": []}
