"""The compare pages over Django's test client: ticked runs open one shareable link, the page
embeds exactly what GET /api/v1/compare answers, and the trend page and its links."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from tests.compare.tracked import track

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(user, auth_client):
    client = auth_client(user)
    return [track(client, f"run-{lr}", params={"lr": lr, "opt": "adam"}, metrics={"loss": [1.0, lr]})
            for lr in (0.1, 0.2, 0.3)]


def test_the_runs_table_offers_a_checkbox_per_run_and_a_compare_button(alice_client, runs):
    html = alice_client.get(reverse("runs:list")).content.decode()
    assert 'id="compare-form"' in html and 'action="/compare/"' in html
    for run_id in runs:
        assert f'name="runs" value="{run_id}" form="compare-form"' in html
    assert "compare_select.js" in html


def test_ticked_runs_redirect_to_one_link_and_the_page_embeds_the_api_answer(alice_client, runs):
    response = alice_client.get("/compare/", {"runs": [str(r) for r in runs]})
    assert response.status_code == 302 and response["Location"] == f"/compare/?runs={runs[0]},{runs[1]},{runs[2]}"
    html = alice_client.get(response["Location"]).content.decode()
    embedded = json.loads(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', html, re.S).group(1))
    assert embedded == json.loads(alice_client.get(f"/api/v1/compare?runs={runs[0]},{runs[1]},{runs[2]}").content)
    # Diff first: the row that differs is marked, the one every run shares is there to toggle.
    assert re.search(r'<tr class="differs" data-key="lr">', html)
    assert re.search(r'<tr class="same" data-key="opt">', html)
    assert 'id="diff-all"' in html and "plotly/plotly.min.js" in html and "compare.js" in html


def test_a_run_name_cannot_break_out_of_the_embedded_json(alice_client, user, auth_client):
    client = auth_client(user)
    a = track(client, "</script><script>alert(1)</script>", params={"lr": 1})
    b = track(client, "b", params={"lr": 2})
    html = alice_client.get(f"/compare/?runs={a},{b}").content.decode()
    assert "</script><script>alert(1)" not in html
    embedded = re.search(r'id="compare-data">(.*?)</script>', html, re.S).group(1)
    assert json.loads(embedded)["runs"][0]["name"] == "</script><script>alert(1)</script>"


def test_too_few_runs_is_a_page_that_says_how_to_pick_them(alice_client, runs):
    response = alice_client.get("/compare/", {"runs": str(runs[0])})
    assert response.status_code == 400
    assert "Choose at least 2 runs to compare." in response.content.decode()


def test_saving_the_view_from_the_page_redirects_to_its_short_link(alice_client, runs):
    query = f"runs={runs[0]},{runs[1]}&x=relative&log=1"
    response = alice_client.post("/compare/save", {"query": query, "title": "two runs", "namespace": "alice",
                                                   "visibility": "team"})
    assert response.status_code == 302 and re.fullmatch(r"/c/[a-z2-9]{8}", response["Location"])
    html = alice_client.get(response["Location"]).content.decode()
    assert "two runs" in html and "Saved view" in html and 'id="opt-log" checked' in html


def test_the_workflow_page_links_its_trend_page(alice_client, workflow):
    html = alice_client.get(reverse("registry:workflow", args=["alice", "demo"])).content.decode()
    assert 'href="/w/alice/demo/trend"' in html
    page = alice_client.get("/w/alice/demo/trend").content.decode()
    assert "Trend of" in page and 'id="trend-data"' in page and "No run of this workflow has logged a metric yet." in page


def test_compare_all_that_match_takes_the_tables_filters(alice_client, runs, user, auth_client):
    html = alice_client.get(reverse("runs:list"), {"q": "params.lr >= 0.2"}).content.decode()
    link = re.search(r'id="compare-matching" href="([^"]+)">Compare all 2 runs that match', html).group(1)
    response = alice_client.get(link.replace("&amp;", "&"))
    assert response.status_code == 302
    # In the table's order (newest first): the runs with lr 0.3 and 0.2.
    assert response["Location"] == f"/compare/?runs={runs[2]},{runs[1]}"
    bad = alice_client.get("/compare/", {"q": "params.lr >"})
    assert bad.status_code == 400 and "position" in bad.content.decode()
