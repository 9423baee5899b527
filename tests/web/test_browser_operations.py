"""In headless Chromium: a user forks a workflow with the Fork button, runs the fork, sees it
fail, and retries it from the run page with an edited parameter until it succeeds."""
from __future__ import annotations

import re

import pytest

from runs.models import Run
from tests.factories import browser_log_in, make_spec, publish

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# b fails when n is 13.
SOURCE = '''\
def a():
    return {"x": 2}


def b(x, n):
    if n == 13:
        raise RuntimeError("unlucky n")
    return {"y": x * n}


def c(y):
    print(f"y={y}")
'''


def test_it_forks_runs_and_retries_with_an_edited_parameter(page, celery_worker, live_server, user, other_user):
    from playwright.sync_api import expect

    publish(user, spec=make_spec(name="ops", description="Fails on 13."), files={"workflow.py": SOURCE})

    browser_log_in(page, live_server.url, other_user)

    # Fork alice/ops into bob's namespace under a new name.
    page.goto(f"{live_server.url}/w/alice/ops/")
    page.click("summary:has-text('Fork')")
    expect(page.locator("#fork-namespace")).to_have_value("bob")
    page.fill("#fork-name", "my-ops")
    page.click("button:has-text('Fork v1.0.0')")
    page.wait_for_url(f"{live_server.url}/w/bob/my-ops/")
    expect(page.locator(".forked-from")).to_contain_text("Forked from alice/ops@1.0.0")
    expect(page.locator(".messages")).to_contain_text("Forked alice/ops@1.0.0 to bob/my-ops@1.0.0.")

    # Run the fork with the unlucky n: it fails at b.
    page.fill("#id_param-n", "13")
    page.click("button:has-text('Start run')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    expect(page.locator("#run-status .title-row .badge")).to_have_text("failed", timeout=25_000)

    # Retry… opens the form prefilled with n=13; change it to 4.
    page.click("a:has-text('Retry…')")
    page.wait_for_url(f"{live_server.url}/runs/{run_id}/retry")
    expect(page.locator("#id_param-n")).to_have_value("13")
    page.fill("#id_param-n", "4")
    page.click(f"button:has-text('Retry run {run_id}')")
    page.wait_for_url(f"{live_server.url}/runs/{run_id}/")
    expect(page.locator("#run-status .title-row .badge")).to_have_text("succeeded", timeout=25_000)
    expect(page.locator("#step-b td").nth(2)).to_have_text("2")  # b's second attempt
    expect(page.locator("#step-a td").nth(2)).to_have_text("1")  # a was reused

    run = celery_worker.wait_for_run(run_id, timeout=5)
    assert run.params["n"] == 4 and run.asset_version.asset.full_name == "bob/my-ops"
    assert Run.objects.count() == 1
