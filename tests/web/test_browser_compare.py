"""In headless Chromium: a user ticks runs in the runs table, opens Compare, sees only the
params that differ until they show all, reads a run's value from the loss chart (its data and
its hover label) and the values table at a chosen step, and saves the view."""
from __future__ import annotations

import re

import pytest

from tests.compare.tracked import track
from tests.factories import browser_log_in, make_token

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def loss(lr: float) -> list[float]:
    # 1,500 steps: two runs make 3,000 points in a chart, drawn with WebGL (scattergl).
    return [round(1.0 / (1 + lr * 100 * s), 6) for s in range(1500)]


def test_it_compares_runs_picked_in_the_runs_table(page, live_server, user):
    from playwright.sync_api import expect
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    ids = {lr: track(api, f"lr-{lr}", params={"lr": lr, "optimizer": "adam"}, tags={"team": "cv"},
                     metrics={"loss": loss(lr), "accuracy": [1 - v for v in loss(lr)]}) for lr in (0.01, 0.05, 0.2)}

    browser_log_in(page, live_server.url, user)

    # Tick two runs in the runs table and press Compare.
    page.goto(f"{live_server.url}/runs/")
    page.check(f"input.compare-pick[value='{ids[0.01]}']")
    expect(page.locator("#compare-count")).to_have_text("Tick one more.")
    page.check(f"input.compare-pick[value='{ids[0.2]}']")
    page.click("#compare-button:has-text('Compare 2 runs')")
    page.wait_for_url(re.compile(r"/compare/\?runs=\d+,\d+$"), timeout=30_000)
    expect(page.locator("h1")).to_have_text("Compare 2 runs")

    # Diff first: lr differs and shows; optimizer is the same and hides until "show all".
    lr_row, optimizer_row = page.locator("tr[data-key='lr']"), page.locator("tr[data-key='optimizer']")
    expect(lr_row).to_be_visible()
    expect(lr_row).to_contain_text("0.01")
    expect(lr_row).to_contain_text("0.2")
    expect(optimizer_row).to_be_hidden()
    page.check("#diff-all")
    expect(optimizer_row).to_be_visible()
    assert "all=1" in page.url
    page.uncheck("#diff-all")
    expect(optimizer_row).to_be_hidden()

    # The loss chart holds both runs' curves; step 10 of lr=0.2 is 1 / (1 + 20 * 10), rounded.
    chart = page.locator(".chart-cell[data-key='loss'] .js-plotly-plot")
    expect(chart).to_have_count(1)
    traces = chart.evaluate("gd => gd.data.map(t => ({name: t.name, x: t.x[10], y: t.y[10], type: t.type}))")
    # The table lists the newest run first, so that is the order the runs were ticked in.
    assert sorted(traces, key=lambda t: t["name"]) == [{"name": "lr-0.01", "x": 10, "y": loss(0.01)[10], "type": "scattergl"},
                      {"name": "lr-0.2", "x": 10, "y": loss(0.2)[10], "type": "scattergl"}]
    # Its hover label ("x unified") shows every run's value at that step.
    # The mouse goes to step 10 on the plot (plotly's own axis maps the step to a pixel); the
    # hover label ("x unified") then shows the step it landed on and every run's value there.
    box = chart.bounding_box()
    px, py = chart.evaluate("gd => [gd._fullLayout.xaxis.l2p(10) + gd._fullLayout._size.l, "
                            "gd._fullLayout._size.t + gd._fullLayout._size.h / 2]")
    page.mouse.move(box["x"] + px, box["y"] + py)
    label = page.locator(".chart-cell[data-key='loss'] .hoverlayer")
    expect(label).to_contain_text("lr-0.01: ")
    text = label.text_content()
    step = int(re.match(r"\s*(\d+)", text).group(1))
    assert abs(step - 10) <= 5, text  # a pixel spans a few of the 1,500 steps
    for lr in (0.01, 0.2):
        shown = float(re.search(rf"lr-{lr}: ([0-9.e+-]+)", text).group(1))
        assert shown == pytest.approx(loss(lr)[step], rel=1e-5), (lr, text)

    # The values table at a chosen step reads every point, not the chart's sample.
    page.select_option("#opt-at", "step")
    page.fill("#opt-step", "10")
    page.press("#opt-step", "Enter")
    cell = page.locator(f"#values-table tr[data-run='{ids[0.2]}'] td[data-key='loss']")
    expect(cell).to_have_text(re.compile(r"^0\.004975\s*@10$"))
    assert "at=step" in page.url and "step=10" in page.url

    # Log scale and smoothing redraw the same data.
    page.check("#opt-log")
    assert chart.evaluate("gd => gd.layout.yaxis.type") == "log"

    # Save the view: its short link opens the same comparison.
    page.click("summary:has-text('Save view…')")
    page.fill("input[name=title]", "lr sweep")
    page.click("button:has-text('Save and get a link')")
    page.wait_for_url(re.compile(r"/c/[a-z2-9]{8}$"), timeout=30_000)
    expect(page.locator("h1")).to_have_text("lr sweep")
    expect(page.locator("#opt-log")).to_be_checked()
    expect(page.locator("tr[data-key='lr']")).to_be_visible()
