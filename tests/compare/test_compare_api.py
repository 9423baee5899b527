"""GET /api/v1/compare: runs written through the API, read back as the compare page's data."""
from __future__ import annotations

import json

import pytest

from compare.models import SeriesSample
from tests.factories import assert_error

from tests.compare.tracked import track

pytestmark = pytest.mark.django_db

URL = "/api/v1/compare"


def compare(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def row(section: list[dict], key: str) -> dict:
    return next(r for r in section if r["key"] == key)


def test_it_diffs_params_and_tags_marking_what_is_the_same(client, sweep):
    ids = [sweep["a"], sweep["b"], sweep["c"]]
    body = compare(client, runs=",".join(map(str, ids)))
    assert [r["id"] for r in body["runs"]] == ids and [r["label"] for r in body["runs"]] == ["a", "b", "c"]
    assert row(body["diff"]["params"], "lr") == {"key": "lr", "values": ["0.1", "0.01", "0.001"], "same": False}
    assert row(body["diff"]["params"], "optimizer")["same"] is True
    assert row(body["diff"]["tags"], "team")["same"] is True
    assert row(body["diff"]["tags"], "seed")["values"] == ["1", "2", "3"]
    assert row(body["diff"]["run"], "experiment")["same"] is True
    assert body["diff"]["versions"] == []  # tracked runs: no workflow version to diff


def test_it_answers_last_best_and_values_at_a_step(client, sweep):
    ids = f"{sweep['a']},{sweep['b']},{sweep['c']}"
    table = {r["key"]: r for r in compare(client, runs=ids)["metrics"]["table"]}
    loss, accuracy = table["loss"], table["accuracy"]
    assert loss["goal"] == "min" and accuracy["goal"] == "max"
    assert loss["last"] == [0.5, 0.2, 0.8] and loss["last_step"] == [3, 3, 3]
    assert loss["best"] == [0.4, 0.2, 0.8] and loss["best_step"] == [2, 3, 3]
    assert accuracy["best"] == [0.8, 0.9, None] and accuracy["best_step"] == [2, 3, None]  # c never logged it

    at = {r["key"]: r for r in compare(client, runs=ids, at="step", step=1)["metrics"]["table"]}
    assert at["loss"]["at_step"] == [0.6, 0.8, 0.9] and at["loss"]["at_step_step"] == [1, 1, 1]
    # Past the last step, a run answers with its last point.
    past = {r["key"]: r for r in compare(client, runs=ids, at="step", step=99)["metrics"]["table"]}
    assert past["accuracy"]["at_step"] == [0.78, 0.9, None] and past["accuracy"]["at_step_step"] == [3, 3, None]


def test_it_sends_each_runs_series_for_the_overlay_charts(client, sweep):
    body = compare(client, runs=f"{sweep['a']},{sweep['b']}")
    loss = {s["run"]: s for s in body["series"]["loss"]}
    assert loss[sweep["a"]]["step"] == [0, 1, 2, 3] and loss[sweep["a"]]["value"] == [1.0, 0.6, 0.4, 0.5]
    assert loss[sweep["b"]]["total"] == 4 and loss[sweep["b"]]["sampled"] is False
    assert len(loss[sweep["a"]]["time"]) == 4 and loss[sweep["a"]]["time"][0] == 0 and loss[sweep["a"]]["t0"] > 0
    assert body["metrics"]["charted"] == ["accuracy", "loss"]
    assert compare(client, runs=f"{sweep['a']},{sweep['b']}", keys="loss")["metrics"]["charted"] == ["loss"]


def test_a_long_series_is_downsampled_keeping_its_spike_and_the_sample_is_kept(client):
    values = [1.0] * 30_000
    values[12_345] = 50.0  # a spike the sample must keep
    a = track(client, "long", params={"lr": 0.1}, metrics={"loss": values})
    b = track(client, "short", params={"lr": 0.2}, metrics={"loss": [1.0, 0.5]})
    body = compare(client, runs=f"{a},{b}")
    long = next(s for s in body["series"]["loss"] if s["run"] == a)
    assert long["sampled"] is True and long["total"] == 30_000 and len(long["step"]) <= 2000
    assert 12_345 in long["step"] and max(long["value"]) == 50.0
    assert body["max_points"] == 2000
    # Both runs have ended: their samples are kept, and the same data comes back from them.
    assert SeriesSample.objects.filter(run_id__in=[a, b]).count() == 2
    assert compare(client, runs=f"{a},{b}")["series"] == body["series"]


def test_a_running_runs_series_is_sampled_afresh_each_time(client, sweep):
    run_id = client.post("/api/v1/experiments/runs", {"experiment": "sweep", "name": "live"}, format="json").json()["id"]
    client.post(f"/api/v1/runs/{run_id}/log-batch", {"metrics": {"loss": {"step": [0], "value": [2.0]}}}, format="json")
    first = compare(client, runs=f"{sweep['a']},{run_id}")
    assert next(s for s in first["series"]["loss"] if s["run"] == run_id)["value"] == [2.0]
    client.post(f"/api/v1/runs/{run_id}/log-batch", {"metrics": {"loss": {"step": [1], "value": [1.5]}}}, format="json")
    again = compare(client, runs=f"{sweep['a']},{run_id}")
    assert next(s for s in again["series"]["loss"] if s["run"] == run_id)["value"] == [2.0, 1.5]
    assert not SeriesSample.objects.filter(run_id=run_id).exists()


def test_runs_the_user_cannot_see_are_absent_and_leave_no_trace(client, sweep, other_user, auth_client):
    bob = auth_client(other_user)
    secret = track(bob, "secret-run", params={"lr": 9.9, "bobs_param": 1}, tags={"bobs_tag": "x"},
                   metrics={"bobs_metric": [1.0]}, artifacts={"bobs.txt": b"private"})
    response = client.get(URL, {"runs": f"{sweep['a']},{secret},{sweep['b']}"})
    assert response.status_code == 200
    text = response.content.decode()
    body = json.loads(text)
    assert [r["id"] for r in body["runs"]] == [sweep["a"], sweep["b"]]
    assert body["options"]["runs"] == [sweep["a"], sweep["b"]]
    for leak in ("secret-run", "bobs_param", "bobs_tag", "bobs_metric", "bobs.txt", "9.9", f'"id":{secret}'):
        assert leak not in text, leak
    # With only one run left that the user may see, the answer is the same as for a run that does not exist.
    hidden = client.get(URL, {"runs": f"{sweep['a']},{secret}"})
    missing = client.get(URL, {"runs": f"{sweep['a']},999999"})
    assert hidden.status_code == missing.status_code == 400 and hidden.json() == missing.json()
    assert_error(hidden, 400, "invalid", "runs")


@pytest.mark.parametrize("params,field", [
    ({"runs": "1"}, "runs"),
    ({"runs": ""}, "runs"),
    ({"runs": "1,x"}, "runs"),
    ({"runs": ",".join(str(i) for i in range(1, 102))}, "runs"),
    ({"runs": "1,2", "colour": "red"}, "colour"),
    ({"runs": "1,2", "at": "median"}, "at"),
    ({"runs": "1,2", "at": "step"}, "step"),
    ({"runs": "1,2", "x": "epoch"}, "x"),
    ({"runs": "1,2", "smoothing": "1.5"}, "smoothing"),
    ({"runs": "1,2", "max_points": "5"}, "max_points"),
    ({"runs": "1,2", "log": "maybe"}, "log"),
    ({"runs": "1,2", "dims": "status"}, "dims"),
])
def test_bad_options_are_a_400_naming_the_field(client, params, field):
    assert_error(client.get(URL, params), 400, "invalid", field)


def test_more_than_100_runs_need_sampling_and_chart_that_many(client):
    ids = [track(client, f"r{i}", params={"lr": i}, metrics={"loss": [float(i)]}) for i in range(5)]
    # The limit is checked before any run is read, so a long list of ids is enough to see it.
    too_many = ",".join(map(str, ids + list(range(10_000, 10_100))))
    error = assert_error(client.get(URL, {"runs": too_many}), 400, "invalid", "runs")
    assert "sample" in error["message"]
    body = compare(client, runs=too_many, sample=3)
    assert [r["id"] for r in body["runs"]] == ids
    charted = [r["id"] for r in body["runs"] if r["charted"]]
    assert charted == [ids[0], ids[2], ids[4]]
    assert sorted(s["run"] for s in body["series"]["loss"]) == charted
    assert len(body["metrics"]["table"][0]["last"]) == 5  # the tables cover every run


def test_the_api_is_in_the_openapi_schema(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/v1/compare", "/api/v1/compare/artifact", "/api/v1/comparisons", "/api/v1/comparisons/{slug}",
                 "/api/v1/workflows/{namespace}/{name}/trend"):
        assert path in paths, path


def test_kept_samples_older_than_the_ttl_are_pruned_and_made_again_on_the_next_open(client, sweep):
    from datetime import timedelta

    from django.utils import timezone

    from compare.services import series_samples_prune

    ids = f"{sweep['a']},{sweep['b']}"
    body = compare(client, runs=ids)
    assert SeriesSample.objects.count() == 4  # loss and accuracy of a and b
    SeriesSample.objects.filter(run_id=sweep["a"]).update(created_at=timezone.now() - timedelta(days=31))
    assert series_samples_prune(older_than_s=30 * 24 * 3600) == 2
    assert set(SeriesSample.objects.values_list("run_id", flat=True)) == {sweep["b"]}
    assert compare(client, runs=ids)["series"] == body["series"] and SeriesSample.objects.count() == 4


def test_a_finished_runs_samples_are_made_at_every_tier_once(client, sweep):
    from compare.series import TIERS, series_warm

    tiers = {points for _most, points in TIERS}
    assert series_warm(run_id=sweep["a"]) == 2 * len(tiers)  # loss and accuracy
    assert set(SeriesSample.objects.filter(run_id=sweep["a"]).values_list("max_points", flat=True)) == tiers
    assert series_warm(run_id=sweep["a"]) == 0  # still current: nothing made again
    before = SeriesSample.objects.count()
    body = compare(client, runs=f"{sweep['a']},{sweep['b']}")
    assert SeriesSample.objects.count() == before + 2  # only b's were missing
    assert next(s for s in body["series"]["loss"] if s["run"] == sweep["a"])["value"] == [1.0, 0.6, 0.4, 0.5]
