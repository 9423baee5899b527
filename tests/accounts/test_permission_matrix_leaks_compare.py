"""The matrix's leak checks for the compare app: saved comparisons, the compare API and page,
artifacts side by side and the trend hold only the runs the caller may see, and say nothing
about the others: not their names, not their ids, not how many there were."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.accounts.matrix_client import api_client, web_client
from tests.accounts.matrix_world import ROLES, member, sees_asset

pytestmark = pytest.mark.django_db
SIGNED_IN = [r for r in ROLES if r != "anonymous"]
# What would name a hidden run: its name, its experiment, its workflow.
NAMES = {vis: (f"{name}-run", f"exp-{vis}") for vis, name in (("private", "pflow"), ("team", "tflow"),
                                                              ("public", "pubflow"))}


@pytest.fixture(autouse=True)
def _s3_runs_cleanup():
    """The world's files live through every test of the module (see test_permission_matrix)."""
    yield


def all_runs(world) -> list[int]:
    return [r.pk for c in world.columns.values() for r in (c.run, c.tracked)]


def visible_in_order(world, role: str) -> list[int]:
    return [r.pk for vis, c in world.columns.items() if member(role, vis) for r in (c.run, c.tracked)]


def assert_names_only_of_visible(text: str, role: str, *, all_named: bool = True) -> None:
    """No hidden run is named in ``text``; with ``all_named``, every visible one is."""
    for vis, names in NAMES.items():
        for name in names:
            if all_named or not member(role, vis):
                assert (name in text) == member(role, vis), (role, vis, name)


def run_links(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/runs/(\d+)/"', html)}


@pytest.mark.parametrize("role", SIGNED_IN)
def test_the_comparisons_list_holds_only_what_the_role_may_open_with_only_visible_runs(world, role):
    listed = api_client(world, role).get("/api/v1/comparisons").json()["results"]
    assert {c["slug"] for c in listed} == {c.comparison.slug for vis, c in world.columns.items() if member(role, vis)}
    visible = set(visible_in_order(world, role))
    for item in listed:
        assert set(item["runs"]) <= visible, (role, item)
        if item["compare"]:
            asked = parse_qs(urlparse(item["compare"]).query)["runs"][0].split(",")
            assert {int(i) for i in asked} <= visible


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_a_shared_comparison_opens_without_the_owners_private_runs(world, role):
    """eddie's view shared with lab holds his private runs too: lab's others never get them."""
    team, private = world.columns["team"], world.columns["private"]
    got = api_client(world, role).get(f"/api/v1/comparisons/{team.comparison.slug}")
    assert got.json()["runs"] == [team.run.pk, team.tracked.pk]
    assert_names_only_of_visible(got.content.decode(), role, all_named=False)
    page = web_client(world, role).get(f"/c/{team.comparison.slug}").content.decode()
    assert run_links(page) == {team.run.pk, team.tracked.pk}
    assert private.run.pk not in run_links(page) and "pflow-run" not in page and "exp-private" not in page
    # the owner still sees all four
    own = api_client(world, "editor").get(f"/api/v1/comparisons/{team.comparison.slug}").json()
    assert own["runs"] == [team.run.pk, team.tracked.pk, private.run.pk, private.tracked.pk]


@pytest.mark.parametrize("role", SIGNED_IN)
def test_the_compare_api_and_page_hold_only_visible_runs(world, role):
    expected = visible_in_order(world, role)
    response = api_client(world, role).get("/api/v1/compare", {"runs": ",".join(map(str, all_runs(world)))})
    if not expected:  # the outsider: as if no run had been asked for
        assert response.status_code == 400 and response.json()["error"]["field"] == "runs"
        return
    assert response.status_code == 200 and [r["id"] for r in response.json()["runs"]] == expected
    body = response.json()
    for section in body["diff"].values():
        for row in section if isinstance(section, list) else []:
            assert len(row["values"]) == len(expected), (role, row)  # one value per visible run, no blanks
    for row in body["metrics"]["table"]:
        assert len(row["last"]) == len(expected)
    assert_names_only_of_visible(response.content.decode(), role)
    page = web_client(world, role).get("/compare/", {"runs": ",".join(map(str, all_runs(world)))}).content.decode()
    assert run_links(page) == set(expected)
    assert_names_only_of_visible(page, role)


@pytest.mark.parametrize("role", ["outsider", "viewer", "admin"])
def test_hidden_runs_answer_as_runs_that_do_not_exist(world, role):
    """Asking for eddie's private runs tells nothing, not even that they exist: the answer is
    byte for byte the one for ids no run has."""
    private = world.columns["private"]
    api = api_client(world, role)
    for path, extra in (("/api/v1/compare", {}), ("/api/v1/compare/artifact", {"path": "model.txt"})):
        hidden = api.get(path, {"runs": f"{private.run.pk},{private.tracked.pk}", **extra})
        missing = api.get(path, {"runs": "987654,987655", **extra})
        assert (hidden.status_code, hidden.content) == (missing.status_code, missing.content) == (
            400, missing.content), path
    saved = api.post("/api/v1/comparisons", {"runs": [private.run.pk, private.tracked.pk]}, format="json")
    assert saved.status_code == 400 and json.loads(saved.content)["error"]["field"] == "runs"


@pytest.mark.parametrize("role", SIGNED_IN)
def test_artifacts_side_by_side_hold_only_visible_runs(world, role):
    expected = visible_in_order(world, role)
    got = api_client(world, role).get("/api/v1/compare/artifact",
                                      {"runs": ",".join(map(str, all_runs(world))), "path": "model.txt"})
    if not expected:
        assert got.status_code == 400 and got.json()["error"]["field"] == "runs"
        return
    assert got.status_code == 200 and [i["run"] for i in got.json()["items"]] == expected


@pytest.mark.parametrize("role", SIGNED_IN)
@pytest.mark.parametrize("vis", ["team", "public"])
def test_a_trend_shows_only_visible_runs(world, role, vis):
    c = world.columns[vis]
    api = api_client(world, role).get(f"/api/v1/workflows/{c.ns}/{c.name}/trend", {"metric": "loss"})
    assert api.status_code == (200 if sees_asset(role, vis) else 404)
    if sees_asset(role, vis):
        assert [r["id"] for r in api.json()["runs"]] == ([c.run.pk] if member(role, vis) else [])
        page = web_client(world, role).get(f"/w/{c.ns}/{c.name}/trend").content.decode()
        assert run_links(page) <= ({c.run.pk} if member(role, vis) else set())
