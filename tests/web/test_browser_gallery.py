"""In headless Chromium: a user logs in, finds a workflow in the gallery, subscribes, starts a
run from the form with a changed parameter, and watches the run page until the worker is done."""
from __future__ import annotations

import re

import pytest

from tests.factories import browser_log_in, make_spec, publish

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = '''\
from flowdeck import log_metric


def a():
    return {"x": 2}


def b(x, n):
    log_metric("product", x * n)
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


def test_it_finds_subscribes_and_runs_a_workflow(page, celery_worker, live_server, user, other_user):
    from playwright.sync_api import expect

    publish(user, spec=make_spec(name="churn-train", description="Trains the churn model."),
            files={"workflow.py": SOURCE}, tags=["churn"])
    publish(user, spec=make_spec(name="image-resize", description="Resizes images."), files={"workflow.py": SOURCE})

    # Log in through the real form, as bob.
    browser_log_in(page, live_server.url, other_user)
    expect(page.locator(".account")).to_contain_text("bob")

    # Search the gallery.
    expect(page.locator(".asset-card")).to_have_count(2)
    page.get_by_role("searchbox", name="Search").fill("churn")
    page.click("button:has-text('Search')")
    expect(page.locator(".asset-card")).to_have_count(1)
    expect(page.locator(".asset-card")).to_contain_text("alice/churn-train")

    # Open it and subscribe.
    page.click("a.asset-name")
    page.wait_for_url(f"{live_server.url}/w/alice/churn-train/")
    expect(page.locator(".title-row")).to_contain_text("0 subscribers")
    page.click("button:has-text('Subscribe')")
    expect(page.locator(".title-row")).to_contain_text("1 subscriber")
    expect(page.get_by_role("button", name="Unsubscribe")).to_be_visible()

    # Start a run with n changed from 3 to 7.
    page.fill("#id_param-n", "7")
    page.click("button:has-text('Start run')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    # The page polls while the run is live and reloads once it is final.
    expect(page.locator("#run-status .title-row .badge")).to_have_text("succeeded", timeout=25_000)
    metrics = page.locator("section.panel", has=page.get_by_role("heading", name="Metrics"))
    expect(metrics.locator("tr", has_text="product")).to_contain_text("14")
    params = page.locator("section.panel", has=page.get_by_role("heading", name="Parameters"))
    expect(params.locator("tr", has_text="n")).to_contain_text("7")
    assert celery_worker.wait_for_run(run_id, timeout=5).params["n"] == 7
