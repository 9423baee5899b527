"""The matrix's second half: nothing hidden shows through lists, counts, search or run tables.

For each role, every list is compared with exactly what that role may see in the world
(``matrix_world``): the same sets, the same counts."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.accounts.matrix_client import api_client, web_client
from tests.accounts.matrix_world import ROLES, VISIBILITIES, member, sees_asset

pytestmark = pytest.mark.django_db
SIGNED_IN = [r for r in ROLES if r != "anonymous"]


@pytest.fixture(autouse=True)
def _s3_runs_cleanup():
    """The world's files live through every test of the module (see test_permission_matrix)."""
    yield


def visible_assets(world, role: str) -> set[str]:
    return {f"{c.ns}/{c.name}" for vis, c in world.columns.items() if sees_asset(role, vis)}


def visible_runs(world, role: str) -> set[int]:
    return {r.pk for vis, c in world.columns.items() if member(role, vis) for r in (c.run, c.tracked)}


def run_links(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/runs/(\d+)/"', html)}


@pytest.mark.parametrize("role", ROLES)
def test_gallery_lists_and_counts_only_what_the_role_may_see(world, role):
    listed = api_client(world, role).get("/api/v1/workflows").json()
    names = {a["namespace"] + "/" + a["name"] for a in listed["results"]}
    assert names == visible_assets(world, role) and listed["count"] == len(names)
    html = web_client(world, role).get("/").content.decode()
    for vis, c in world.columns.items():
        assert (f'href="/w/{c.ns}/{c.name}/"' in html) == sees_asset(role, vis), (role, vis)
        assert (c.asset.description in html) == sees_asset(role, vis), (role, vis)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("vis", VISIBILITIES)
def test_search_finds_a_workflow_only_for_who_may_see_it(world, role, vis):
    c = world.columns[vis]
    for query in ({"q": c.name}, {"q": c.asset.description}, {"namespace": c.ns}):
        found = api_client(world, role).get("/api/v1/workflows", query).json()
        assert (f"{c.ns}/{c.name}" in {a["namespace"] + "/" + a["name"] for a in found["results"]}) == sees_asset(role, vis)
        html = web_client(world, role).get("/", query).content.decode()
        assert (f'href="/w/{c.ns}/{c.name}/"' in html) == sees_asset(role, vis), (role, vis, query)


@pytest.mark.parametrize("role", SIGNED_IN)
def test_run_tables_list_and_count_only_visible_runs(world, role):
    api = api_client(world, role)
    listed = api.get("/api/v1/runs").json()
    assert {r["id"] for r in listed["results"]} == visible_runs(world, role)
    assert listed["count"] == len(visible_runs(world, role))
    assert api.get("/api/v1/runs/count").json() == {"count": len(visible_runs(world, role)), "count_exact": True}
    assert api.get("/api/v1/runs/count", {"q": "status = succeeded or status != succeeded"}).json()["count"] == len(
        visible_runs(world, role))
    exported = list(csv.DictReader(io.StringIO(b"".join(api.get("/api/v1/runs/export.csv").streaming_content).decode())))
    assert {int(row["id"]) for row in exported} == visible_runs(world, role)
    assert run_links(web_client(world, role).get("/runs/").content.decode()) == visible_runs(world, role)


@pytest.mark.parametrize("role", SIGNED_IN)
@pytest.mark.parametrize("vis", VISIBILITIES)
def test_a_workflows_runs_and_run_count_show_only_visible_runs(world, role, vis):
    c = world.columns[vis]
    web = web_client(world, role)
    expected = {c.run.pk} if member(role, vis) else set()
    table = web.get(f"/w/{c.ns}/{c.name}/runs/")
    assert table.status_code == (200 if sees_asset(role, vis) else 404)
    if sees_asset(role, vis):
        assert run_links(table.content.decode()) == expected
        page = web.get(f"/w/{c.ns}/{c.name}/").content.decode()
        count = len(expected)
        assert f'<span class="muted run-count">{count} run{"" if count == 1 else "s"}</span>' in page, (role, vis)
    found = api_client(world, role).get("/api/v1/runs", {"workflow": f"{c.ns}/{c.name}"}).json()
    assert {r["id"] for r in found["results"]} == expected


@pytest.mark.parametrize("role", SIGNED_IN)
def test_schedules_triggers_and_experiments_list_only_the_roles_own(world, role):
    api = api_client(world, role)
    members_of = [c for vis, c in world.columns.items() if member(role, vis)]
    schedules = api.get("/api/v1/schedules").json()
    assert {s["id"] for s in schedules["results"]} == {c.schedule.pk for c in members_of}
    triggers = api.get("/api/v1/triggers").json()
    assert {t["id"] for t in triggers["results"]} == {c.trigger.pk for c in members_of}
    assert all("secret" not in t for t in triggers["results"])  # never listed, even to the owner
    experiments = api.get("/api/v1/experiments").json()
    assert {e["name"] for e in experiments["results"]} == {f"exp-{c.vis}" for c in members_of}
    for vis, c in world.columns.items():
        page = web_client(world, role).get(f"/w/{c.ns}/{c.name}/automation/")
        if sees_asset(role, vis):
            html = page.content.decode()
            assert (f"nightly-{vis}" in html) == member(role, vis), (role, vis)
            assert (f"on-data-{vis}" in html) == member(role, vis), (role, vis)


@pytest.mark.parametrize("role", SIGNED_IN)
def test_personal_lists_hold_only_the_callers_things(world, role):
    api = api_client(world, role)
    assert len(api.get("/api/v1/webhooks").json()) == (1 if role == "editor" else 0)
    assert api.get("/api/v1/notifications").json()["count"] == 0
    workspace = web_client(world, role).get("/me/").content.decode()
    own = {c.run.pk for c in world.columns.values()} | {c.tracked.pk for c in world.columns.values()}
    assert run_links(workspace) <= (own if role == "editor" else set())
    preferences = api.get("/api/v1/notifications/preferences").json()
    assert preferences["workflows"] == []
