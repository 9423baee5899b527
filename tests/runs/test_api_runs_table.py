"""GET /api/v1/runs as a runs table (q, columns, sort, limit/offset) and its CSV export, with
runs written through the public API (tracked runs, log-batch) and a published workflow."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import membership_set, team_create
from runs.models import Run
from runs.services.lifecycle import run_start
from tests.factories import assert_error, make_spec, make_user, publish

pytestmark = pytest.mark.django_db

LIST = "/api/v1/runs"
EXPORT = "/api/v1/runs/export.csv"
COUNT = "/api/v1/runs/count"

# name: (lr, optimizer, accuracy points, loss points, team tag)
RUNS = {
    "r1": (0.001, "sgd", [0.5, 0.7], [1.0, 0.8], "cv"),
    "r2": (0.01, "adam", [0.6, 0.92, 0.91], [0.9, 0.3, 0.35], "cv"),
    "r3": (0.1, "adam", [0.95], [0.2], "nlp"),
    "r4": (0.05, "adam", [0.8, 0.97], [0.6, 0.25], "cv"),
}


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


def track(client, name: str, *, lr, optimizer, accuracy, loss, team, status="succeeded") -> int:
    run_id = client.post("/api/v1/experiments/runs", {"experiment": "sweep", "name": name, "tags": {"team": team}},
                         format="json").json()["id"]
    metrics = [{"key": "accuracy", "value": v, "step": i} for i, v in enumerate(accuracy)]
    metrics += [{"key": "loss", "value": v, "step": i} for i, v in enumerate(loss)]
    response = client.post(f"/api/v1/runs/{run_id}/log-batch",
                           {"metrics": metrics, "params": {"lr": lr, "optimizer": optimizer}}, format="json")
    assert response.status_code == 200, response.content
    assert client.post(f"/api/v1/runs/{run_id}/end", {"status": status}, format="json").status_code == 200
    return run_id


@pytest.fixture
def sweep(client) -> dict[str, int]:
    ids = {}
    for name, (lr, optimizer, accuracy, loss, team) in RUNS.items():
        ids[name] = track(client, name, lr=lr, optimizer=optimizer, accuracy=accuracy, loss=loss, team=team,
                          status="failed" if name == "r4" else "succeeded")
    return ids


def names(body) -> list[str]:
    return [r["name"] for r in body["results"]]


def get(client, **params):
    response = client.get(LIST, params)
    assert response.status_code == 200, response.content
    return response.json()


# --- filter ---------------------------------------------------------------------------------------
def test_it_filters_with_the_query_language(client, sweep):
    body = get(client, q="params.lr > 0.005 and metrics.accuracy >= 0.9 and status = succeeded and tags.team = 'cv'")
    assert names(body) == ["r2"] and body["count"] == 1


@pytest.mark.parametrize("q,expected", [
    ("params.lr > 0.01", {"r3", "r4"}),  # numbers compare as numbers: '0.1' > '0.05' > '0.01' as text would not
    ("params.lr >= 0.01", {"r2", "r3", "r4"}),
    ("params.lr < 0.01", {"r1"}),
    ("params.lr <= 0.01", {"r1", "r2"}),
    ("params.lr = 0.010", {"r2"}),
    ("params.lr != 0.01", {"r1", "r3", "r4"}),
    ("params.lr in (0.1, 0.001)", {"r1", "r3"}),
    ("params.optimizer = adam", {"r2", "r3", "r4"}),
    ("params.optimizer != 'adam'", {"r1"}),
    ("params.optimizer in (sgd, 'rmsprop')", {"r1"}),
    ("params.optimizer not in (sgd)", {"r2", "r3", "r4"}),
    ("params.optimizer like 'AD%'", {"r2", "r3", "r4"}),
    ("params.optimizer contains gd", {"r1"}),
    ("params.missing = 1 or params.missing != 1", set()),  # a run without the param matches neither
    ("metrics.accuracy > 0.92", {"r3", "r4"}),  # the last value: r2 reached 0.92 but ended at 0.91
    ("metrics.accuracy.max > 0.96", {"r4"}),
    ("metrics.loss.min < 0.26", {"r3", "r4"}),
    ("metrics.loss.best < 0.26", {"r3", "r4"}),  # best of a loss is its min
    ("metrics.accuracy.best >= 0.95", {"r3", "r4"}),  # best of an accuracy is its max
    ("metrics.accuracy.last in (0.95, 0.7)", {"r1", "r3"}),
    ("tags.team = cv and not name = r1", {"r2", "r4"}),
    ("tags.team != cv", {"r3"}),
    ("status = failed or (tags.team = nlp and metrics.loss < 0.5)", {"r3", "r4"}),
    ("status in (failed, stopped)", {"r4"}),
    ("name like 'r_'", {"r1", "r2", "r3", "r4"}),
    ("name like 'R%' and name not like '%1'", {"r2", "r3", "r4"}),
    ("experiment = sweep and workflow = x/y", set()),
    ("created >= -1d and started < now and duration < 5m", {"r1", "r2", "r3", "r4"}),
    ("created < 2000-01-01", set()),
    ("user = alice", {"r1", "r2", "r3", "r4"}),
])
def test_each_operator(client, sweep, q, expected):
    assert set(names(get(client, q=q))) == expected


def test_workflow_params_from_run_params_compare_as_numbers(client, user):
    spec = make_spec(params=[{"name": "n", "type": "int", "default": 3, "min": 1, "max": 100},
                             {"name": "mode", "type": "str", "default": "fast"}])
    version = publish(user, spec=spec)
    for n in (2, 9, 10):
        run_start(user=user, version=version, params={"n": n}, name=f"n{n}")
    assert set(names(get(client, q="params.n > 9"))) == {"n10"}  # 10 > 9 as numbers ('10' < '9' as text)
    assert set(names(get(client, q="params.n >= 9 and params.mode = fast and workflow = alice/demo"))) == {"n9", "n10"}
    assert set(names(get(client, q="version >= 1.0 and version < 1.0.1 and version = 1.0.0"))) == {"n2", "n9", "n10"}
    body = get(client, sort="params.n", columns="params.n,params.mode,workflow,version")
    assert names(body) == ["n2", "n9", "n10"]
    assert body["results"][0]["values"] == {"params.n": 2, "params.mode": "fast", "workflow": "alice/demo",
                                            "version": "1.0.0"}


# --- sort, columns, pages -------------------------------------------------------------------------
def test_it_sorts_by_any_column_with_missing_values_last(client, sweep):
    plain = track(client, "r0", lr=0.2, optimizer="x", accuracy=[], loss=[0.1], team="cv")
    assert names(get(client, sort="-metrics.accuracy")) == ["r4", "r3", "r2", "r1", "r0"]
    assert names(get(client, sort="metrics.accuracy")) == ["r1", "r2", "r3", "r4", "r0"]
    assert names(get(client, sort="-metrics.accuracy.max")) == ["r4", "r3", "r2", "r1", "r0"]
    assert names(get(client, sort="params.lr")) == ["r1", "r2", "r4", "r3", "r0"]
    assert names(get(client, sort="-params.lr")) == ["r0", "r3", "r4", "r2", "r1"]
    assert names(get(client, sort="tags.team,-name")) == ["r4", "r2", "r1", "r0", "r3"]
    assert names(get(client, sort="-status,name")) == ["r0", "r1", "r2", "r3", "r4"]
    assert names(get(client))[0] == "r0"  # newest first by default
    Run.objects.filter(pk=plain).update(started_at=timezone.now() - timedelta(hours=1))
    assert names(get(client, sort="-duration"))[0] == "r0"
    assert names(get(client, sort="id")) == ["r1", "r2", "r3", "r4", "r0"]


def test_it_returns_the_chosen_columns(client, sweep):
    body = get(client, q="tags.team = cv", sort="-metrics.accuracy",
               columns="params.lr,metrics.accuracy,metrics.accuracy.max,metrics.loss.min,metrics.loss.best,tags.team,status,duration")
    assert body["columns"] == ["params.lr", "metrics.accuracy", "metrics.accuracy.max", "metrics.loss.min",
                               "metrics.loss.best", "tags.team", "status", "duration"]
    first = body["results"][0]
    assert first["name"] == "r4" and first["id"] == sweep["r4"]
    values = dict(first["values"])
    assert values.pop("duration") >= 0
    assert values == {"params.lr": "0.05", "metrics.accuracy": 0.97, "metrics.accuracy.max": 0.97,
                      "metrics.loss.min": 0.25, "metrics.loss.best": 0.25, "tags.team": "cv", "status": "failed"}


def test_wildcard_columns_list_every_key_on_the_page(client, sweep):
    body = get(client, columns="metrics.*,params.*,tags.*", q="name = r2")
    assert body["columns"] == ["metrics.accuracy", "metrics.loss", "params.lr", "params.optimizer", "tags.team"]
    assert body["results"][0]["values"] == {"metrics.accuracy": 0.91, "metrics.loss": 0.35, "params.lr": "0.01",
                                            "params.optimizer": "adam", "tags.team": "cv"}


def test_it_paginates_with_a_count(client, sweep):
    first = get(client, sort="name", limit=3)
    assert names(first) == ["r1", "r2", "r3"] and first["count"] == 4 and first["previous"] is None
    assert "offset=3" in first["next"]
    second = client.get(first["next"]).json()
    assert names(second) == ["r4"] and second["next"] is None and second["count"] == 4
    assert second["previous"] and "offset" not in second["previous"].split("?", 1)[1]
    past = get(client, sort="name", limit=2, offset=10)
    assert (past["count"], past["next"], past["results"]) == (4, None, [])


def test_old_callers_still_work(client, sweep):
    body = get(client, experiment="sweep", status="failed", limit=50)
    assert names(body) == ["r4"] and "values" not in body["results"][0] and "columns" not in body
    assert set(body["results"][0]) >= {"id", "name", "workflow", "version", "experiment", "status", "params", "duration_s"}


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("params,field,message", [
    ({"q": "metrics.accuracy > "}, "q", "Expected a value after '>', got the end of the query at position 19."),
    ({"q": "params.x = '1'; drop table runs_run"}, "q", "Unexpected character ';' at position 14."),
    ({"q": "metrics.accuracy > high"}, "q", "metrics.accuracy compares with numbers, got 'high' at position 19."),
    ({"q": "status = succeded"}, "q", "Unknown status 'succeded'"),
    ({"q": "created > yesterday"}, "q", "Expected a date"),
    ({"q": "metrics.loss like '1%'"}, "q", "'like' does not apply to metrics.loss, a number at position 0."),
    ({"columns": "params.lr,bogus"}, "columns", "Unknown field 'bogus' at position 0."),
    ({"sort": "-nothing"}, "sort", "Unknown field 'nothing'"),
    ({"limit": "abc"}, "limit", "limit must be a whole number, got 'abc'."),
    ({"limit": "0"}, "limit", "limit must be between 1 and 1000."),
    ({"status": "bogus"}, "status", "Unknown status 'bogus'"),
])
def test_bad_input_is_a_400_naming_the_field(client, sweep, params, field, message):
    error = assert_error(client.get(LIST, params), 400, "invalid", field)
    assert error["message"].startswith(message), error["message"]
    if field != "limit":  # the export has no pages
        assert assert_error(client.get(EXPORT, params), 400, "invalid", field)["message"] == error["message"]


def test_injection_attempts_are_values(client, sweep):
    for q in ["params.optimizer = \"x'; drop table runs_run; --\"", "tags.`team\"; drop table runs_run; --` = cv",
              "metrics.`accuracy') or 1=1 --` > 0", "name like '%' or name like \"'%\""]:
        response = client.get(LIST, {"q": q})
        assert response.status_code == 200, response.content
    assert Run.objects.count() == 4
    assert names(get(client, q="name like '%' and params.optimizer = \"x' or '1'='1\"")) == []


# --- CSV ------------------------------------------------------------------------------------------
def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_exports_the_selection_as_csv(client, sweep):
    rows = read_csv(client.get(EXPORT, {"q": "tags.team = cv", "sort": "-metrics.accuracy.max",
                                        "columns": "name,params.lr,metrics.accuracy.max,tags.team,status"}))
    assert rows == [
        ["id", "name", "params.lr", "metrics.accuracy.max", "tags.team", "status"],
        [str(sweep["r4"]), "r4", "0.05", "0.97", "cv", "failed"],
        [str(sweep["r2"]), "r2", "0.01", "0.92", "cv", "succeeded"],
        [str(sweep["r1"]), "r1", "0.001", "0.7", "cv", "succeeded"],
    ]


def test_the_csv_export_streams_every_run_not_one_page(client, sweep):
    rows = read_csv(client.get(EXPORT, {"columns": "metrics.*,params.*", "sort": "name"}))
    assert rows[0] == ["id", "metrics.accuracy", "metrics.loss", "params.lr", "params.optimizer"]
    assert [r[0] for r in rows[1:]] == [str(sweep[n]) for n in ("r1", "r2", "r3", "r4")]
    default = read_csv(client.get(EXPORT))
    assert default[0] == ["id", "workflow", "version", "name", "status", "user", "started", "duration"]
    assert len(default) == 5


def test_the_csv_defuses_spreadsheet_formulas(client):
    track(client, "=HYPERLINK(\"http://evil\")", lr=1, optimizer="@SUM(A1)", accuracy=[0.1], loss=[-1.0], team="-cv")
    rows = read_csv(client.get(EXPORT, {"columns": "name,params.optimizer,metrics.loss,tags.team"}))
    assert rows[1][1:] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)", "-1.0", "'-cv"]


# --- who sees what --------------------------------------------------------------------------------
def test_an_outsider_sees_none_of_my_runs_counts_included(client, sweep, auth_client, other_user):
    bob = auth_client(other_user)
    track(bob, "bobs", lr=0.5, optimizer="adam", accuracy=[0.99], loss=[0.1], team="cv")
    for params in ({}, {"q": "tags.team = cv"}, {"q": "metrics.accuracy > 0", "sort": "-metrics.accuracy"},
                   {"experiment": "sweep"}, {"columns": "metrics.*,params.*,tags.*"}):
        body = bob.get(LIST, params).json()
        assert names(body) == ["bobs"] and body["count"] == 1, (params, body)
        rows = read_csv(bob.get(EXPORT, params))
        assert [r[0] for r in rows[1:]] == [str(Run.objects.get(name="bobs").pk)]
    body = get(client, q="metrics.accuracy > 0")
    assert body["count"] == 4 and "bobs" not in names(body)
    assert get(client, q="params.lr = 0.5")["count"] == 0


def test_team_members_see_the_teams_runs(client, user, auth_client):
    team = team_create(slug="vision", owner=user)
    carol = make_user("carol")
    membership_set(team=team, user=carol, role="viewer")
    run_id = client.post("/api/v1/experiments/runs", {"experiment": "e", "namespace": "vision", "name": "shared"},
                         format="json").json()["id"]
    client.post(f"/api/v1/runs/{run_id}/log-batch", {"metrics": [{"key": "acc", "value": 0.5, "step": 0}]}, format="json")
    track(client, "private", lr=1, optimizer="x", accuracy=[0.5], loss=[1], team="cv")
    body = auth_client(carol).get(LIST, {"q": "metrics.acc = 0.5", "columns": "metrics.acc"}).json()
    assert names(body) == ["shared"] and body["count"] == 1 and body["results"][0]["values"] == {"metrics.acc": 0.5}


def test_pages_of_a_metric_sort_go_on_into_the_runs_without_the_metric(client, sweep):
    track(client, "r0", lr=0.2, optimizer="x", accuracy=[], loss=[0.1], team="cv")
    track(client, "r5", lr=0.2, optimizer="x", accuracy=[], loss=[0.1], team="cv")
    seen = []
    for offset in range(0, 8, 2):
        body = get(client, sort="-metrics.accuracy", limit=2, offset=offset)
        seen += names(body)
        assert body["count"] == 6 and bool(body["next"]) == (offset + 2 < 6)
    assert seen == ["r4", "r3", "r2", "r1", "r5", "r0"]  # then the runs without it, newest first
    assert names(get(client, sort="-metrics.accuracy", limit=3, offset=5)) == ["r0"]
    assert names(get(client, sort="-metrics.accuracy", q="params.optimizer = x", limit=1, offset=1)) == ["r0"]


def test_the_count_is_exact_up_to_a_cap(client, sweep, monkeypatch):
    monkeypatch.setattr("runs.run_table.COUNT_CAP", 3)
    body = get(client, limit=1)
    assert (body["count"], body["count_exact"], len(body["results"])) == (3, False, 1) and body["next"]
    body = get(client, q="tags.team = cv", limit=1)
    assert (body["count"], body["count_exact"]) == (3, True)


def test_without_a_count_the_page_comes_alone_and_the_count_on_its_own(client, sweep, auth_client, other_user):
    body = get(client, limit=2, count="false")
    assert (names(body), body["count"], body["count_exact"]) == (["r4", "r3"], None, False) and body["next"]
    last = get(client, limit=2, offset=2, count="false")  # the last page: its count is known without counting
    assert (names(last), last["count"], last["count_exact"], last["next"]) == (["r2", "r1"], 4, True, None)
    assert get(client, q="tags.team = nlp", count="false")["count"] == 1
    track(auth_client(other_user), "bobs", lr=0.5, optimizer="adam", accuracy=[0.99], loss=[0.1], team="cv")
    counted = client.get(COUNT, {"q": "tags.team = cv and metrics.accuracy > 0.75", "sort": "-ignored"})
    assert counted.status_code == 200 and counted.json() == {"count": 2, "count_exact": True}  # r2, r4; not bob's
    assert client.get(COUNT, {"experiment": "sweep", "status": "failed"}).json() == {"count": 1, "count_exact": True}
    assert auth_client(other_user).get(COUNT).json() == {"count": 1, "count_exact": True}


def test_the_count_is_capped_on_its_own_too(client, sweep, monkeypatch):
    monkeypatch.setattr("runs.run_table.COUNT_CAP", 3)
    assert client.get(COUNT).json() == {"count": 3, "count_exact": False}


def test_a_bad_count_request_is_refused_in_the_error_shape(client, sweep):
    error = assert_error(client.get(COUNT, {"q": "metrics.accuracy >"}), 400, field="q")
    assert "position 18" in error["message"]
    assert_error(client.get(COUNT, {"status": "sleeping"}), 400, field="status")
    assert "true or false" in assert_error(client.get(LIST, {"count": "maybe"}), 400, field="count")["message"]


def test_the_schema_documents_the_table_parameters_and_the_export(api_client):
    paths = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    listed = {p["name"] for p in paths["/api/v1/runs"]["get"]["parameters"]}
    assert {"q", "columns", "sort", "workflow", "experiment", "status", "limit", "offset", "count"} <= listed
    assert {p["name"] for p in paths["/api/v1/runs/count"]["get"]["parameters"]} >= {"q", "workflow", "status"}
    assert "text/csv" in paths["/api/v1/runs/export.csv"]["get"]["responses"]["200"]["content"]


def test_the_lean_rows_equal_run_out(client, user, sweep):
    from runs.api_runs_table import run_out
    from runs.serializers import RunOut

    version = publish(user)
    run_start(user=user, version=version, params={"n": 4}, name="wf")
    Run.objects.filter(name="r1").update(started_at=None, finished_at=None, error="boom")
    for run in Run.objects.select_related("asset_version__asset__namespace", "created_by", "namespace", "experiment"):
        assert run_out(run) == RunOut(run).data
    assert get(client, q="name = wf")["results"] == [RunOut(Run.objects.get(name="wf")).data]
