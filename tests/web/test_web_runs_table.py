"""The runs table pages: a query typed, columns picked, sorted headers, a malformed query
pointed at, the workflow's own table; and in headless Chromium, a filter typed and a metric
column picked from the Columns menu."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from runs.models import Run, RunStatus
from runs.services.lifecycle import run_start
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch
from tests.factories import browser_log_in


def tracked(user, name: str, accuracy: float, lr: float, team: str) -> Run:
    run = run_create_tracked(user=user, experiment="sweep", name=name, tags={"team": team})
    log_batch(run=run, metrics=[{"key": "accuracy", "value": accuracy, "step": 0}], params={"lr": lr})
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    return run


@pytest.fixture
def sweep(user, other_user):
    runs = {name: tracked(user, name, acc, lr, team) for name, acc, lr, team in [
        ("low", 0.61, 0.001, "cv"), ("mid", 0.83, 0.01, "cv"), ("top", 0.97, 0.1, "nlp")]}
    tracked(other_user, "bobs", 0.99, 0.5, "cv")
    return runs


def cells(html: str, column: str) -> list[str]:
    """The text of each body cell under the header ``column``."""
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    names = ["#"] + re.findall(r'<th class="mono"><a [^>]*>([^<]*)</a>', head)
    index = names.index(column)
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[index]).strip() for r in rows]


@pytest.mark.django_db
def test_it_filters_picks_columns_and_sorts(alice_client, sweep):
    url = reverse("runs:list")
    html = alice_client.get(url, {"q": "metrics.accuracy > 0.7", "col": ["name", "metrics.accuracy", "params.lr"],
                                  "sort": "-metrics.accuracy"}).content.decode()
    assert cells(html, "name") == ["top", "mid"]
    assert cells(html, "metrics.accuracy") == ["0.97", "0.83"]
    assert cells(html, "params.lr") == ["0.1", "0.01"]
    assert "1–2 of 2" in html
    # The picker offers the keys of the runs shown, the chosen ones checked.
    assert re.search(r'name="col" value="metrics.accuracy" checked', html)
    assert re.search(r'name="col" value="tags.team">', html)
    # The header that sorts toggles its direction; the CSV link carries the selection.
    assert "sort=metrics.accuracy" in html and "▼" in html
    assert "/api/v1/runs/export.csv?q=metrics.accuracy+%3E+0.7&amp;sort=-metrics.accuracy&amp;columns=name%2Cmetrics.accuracy%2Cparams.lr" in html


@pytest.mark.django_db
def test_a_malformed_query_is_shown_with_its_position(alice_client, sweep):
    response = alice_client.get(reverse("runs:list"), {"q": "metrics.accuracy > and"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Expected a value after &#x27;&gt;&#x27;, got &#x27;and&#x27; at position 19." in html
    assert "<pre class=\"mono\">metrics.accuracy &gt; <mark>and</mark></pre>" in html
    assert "Fix the query to see runs." in html


@pytest.mark.django_db
def test_a_workflows_runs_page_lists_only_its_runs(alice_client, user, workflow, sweep):
    run_start(user=user, version=workflow, name="wf-run")
    url = reverse("runs:workflow-runs", args=["alice", "demo"])
    html = alice_client.get(url).content.decode()
    assert "Runs of" in html
    assert cells(html, "name") == ["wf-run"] and cells(html, "workflow") == ["alice/demo"]
    # An experiment's runs: /runs/?experiment=
    html = alice_client.get(reverse("runs:list"), {"experiment": "sweep", "col": "name"}).content.decode()
    assert sorted(cells(html, "name")) == ["low", "mid", "top"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_a_filter_typed_and_a_column_picked(page, live_server, user, other_user):
    from playwright.sync_api import expect

    for name, acc, lr, team in [("low", 0.61, 0.001, "cv"), ("mid", 0.83, 0.01, "cv"), ("top", 0.97, 0.1, "nlp")]:
        tracked(user, name, acc, lr, team)
    browser_log_in(page, live_server.url, user)

    page.goto(f"{live_server.url}/runs/")
    expect(page.locator(".runs-grid tbody tr")).to_have_count(3)
    page.fill("input[name=q]", "tags.team = cv and metrics.accuracy >= 0.8")
    page.click("summary:has-text('Columns')")
    page.check("input[name=col][value='metrics.accuracy']")
    page.click("button:has-text('Apply')")
    page.wait_for_url(re.compile(r"q=tags\.team"))
    rows = page.locator(".runs-grid tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator(".runs-grid thead")).to_contain_text("metrics.accuracy")
    expect(rows.first).to_contain_text("mid")
    expect(rows.first).to_contain_text("0.83")

    # Sort by the new column from its header, then clear the filter: three runs, best first.
    page.fill("input[name=q]", "")
    page.click("button:has-text('Filter')")
    page.click(".runs-grid thead a:has-text('metrics.accuracy')")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("top")
    expect(rows.nth(2)).to_contain_text("low")

    # A typo is pointed at.
    page.fill("input[name=q]", "metrics.accuracy >")
    page.click("button:has-text('Filter')")
    expect(page.locator(".query-error")).to_contain_text("Expected a value after '>', got the end of the query at position 18.")


def _many(user, n: int) -> None:
    for i in range(n):
        tracked(user, f"run{i:02d}", 0.5 + i / 1000, 0.01, "cv" if i % 2 else "nlp")


@pytest.mark.django_db
def test_a_long_table_is_shown_before_it_is_counted(alice_client, user, other_user):
    _many(user, 53)
    tracked(other_user, "bobs", 0.99, 0.5, "cv")
    html = alice_client.get(reverse("runs:list"), {"q": "metrics.accuracy > 0"}).content.decode()
    assert len(cells(html, "name")) == 50
    url = re.search(r'1–50 of <span id="run-count" data-count-url="([^"]+)">many</span>', html).group(1)
    assert alice_client.get(url.replace("&amp;", "&")).json() == {"count": 53, "count_exact": True}
    assert "Compare the first 100 runs that match" in html
    # The last page knows its count without asking.
    assert "51–53 of 53" in alice_client.get(reverse("runs:list"), {"q": "metrics.accuracy > 0", "page": 2}).content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_the_count_arrives_after_the_page(page, live_server, user, other_user):
    from playwright.sync_api import expect

    _many(user, 53)
    tracked(other_user, "bobs", 0.99, 0.5, "cv")
    browser_log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/runs/?q=tags.team+%3D+cv")
    expect(page.locator(".run-count")).to_have_text("1–26 of 26")  # one page: counted with it
    page.goto(f"{live_server.url}/runs/")
    expect(page.locator(".runs-grid tbody tr")).to_have_count(50)
    expect(page.locator(".run-count")).to_have_text("1–50 of 53")
    expect(page.locator("#compare-matching")).to_have_text("Compare all 53 runs that match")
