"""In headless Chromium: a sub-workflow step on the run page links to its child run and lists
the child's steps, the list stays open while the page refreshes, and the child links back."""
from __future__ import annotations

import pytest

from runs.models import Run, StepStatus
from runs.services.lifecycle import run_start
from tests.factories import browser_log_in, make_spec, publish

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CHILD_SOURCE = '''\
import time


def wait(secs):
    time.sleep(secs)
    return "ok"


def after(done):
    print(done)
'''

PARENT_SOURCE = '''\
def last(done):
    print("got", done)
'''


def test_the_run_page_shows_the_child_run_and_its_steps(page, celery_worker, live_server, user):
    from playwright.sync_api import expect

    publish(user, spec=make_spec(name="slow-child", params=[{"name": "secs", "type": "int", "default": 1}], steps=[
        {"name": "wait", "fn": "workflow:wait", "inputs": {"secs": "params.secs"}, "outputs": ["done"]},
        {"name": "after", "fn": "workflow:after", "depends_on": ["wait"], "inputs": {"done": "wait.done"}},
    ]), files={"workflow.py": CHILD_SOURCE})
    parent = publish(user, spec=make_spec(name="wrapper", params=[], steps=[
        {"name": "inner", "uses": "alice/slow-child@1.0.0", "params": {"secs": 12}, "outputs_from": {"done": "wait.done"}},
        {"name": "last", "fn": "workflow:last", "depends_on": ["inner"], "inputs": {"done": "inner.done"}},
    ]), files={"workflow.py": PARENT_SOURCE})
    run = run_start(user=user, version=parent)
    child = celery_worker.wait_for(lambda: Run.objects.filter(parent_step__run=run).first(), timeout=30,
                                   what="the child run")

    browser_log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    row = page.locator("#step-inner")
    expect(row.locator(".subrun-tag")).to_have_text("sub-workflow")
    expect(row.locator(f'a[href="/runs/{child.pk}/"]')).to_have_text(f"run {child.pk}")
    expect(page.locator('.dag-node.dag-sub[data-step="inner"]')).to_have_count(1)
    steps = row.locator("details.subrun-steps")
    expect(steps.locator("li").first).to_be_hidden()
    steps.locator("summary").click()
    expect(steps.locator("li")).to_have_count(2)
    expect(steps.locator("li").nth(0)).to_contain_text("wait")
    # The status section is replaced every 2 s while the run is live; the list stays open.
    page.wait_for_timeout(4500)
    assert page.evaluate("window.sameDocument === true")
    expect(page.locator("#step-inner details.subrun-steps")).to_have_attribute("open", "")
    expect(page.locator("#step-inner details.subrun-steps li").nth(0).locator(".badge")).to_have_text("running")

    run = celery_worker.wait_for_run(run.pk, timeout=60)
    assert run.status == "succeeded" and run.steps.get(name="inner").status == StepStatus.SUCCEEDED
    page.goto(f"{live_server.url}/runs/{child.pk}/")
    page.click(f'a[href="/runs/{run.pk}/#step-inner"]')
    page.wait_for_url(f"{live_server.url}/runs/{run.pk}/#step-inner")
