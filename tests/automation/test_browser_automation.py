"""In headless Chromium: from the workflow page to its schedules and triggers; create a
schedule and pause it, create a trigger, copy its secret, call the webhook, see the delivery."""
from __future__ import annotations

import re

import httpx
import pytest

from automation.models import Schedule
from tests.factories import browser_log_in, publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_schedules_and_triggers_from_the_workflow_page(page, live_server, user):
    from playwright.sync_api import expect

    publish(user)
    browser_log_in(page, live_server.url, user)

    page.goto(f"{live_server.url}/w/alice/demo/")
    page.click("text=Schedules and triggers")
    page.wait_for_url(f"{live_server.url}/w/alice/demo/automation/")

    schedule_form = page.locator("#new-schedule form")
    schedule_form.locator("input[name=cron]").fill("*/10 * * * *")
    schedule_form.locator("textarea[name=params]").fill('{"n": 4}')
    schedule_form.locator("input[name=name]").fill("ten-minutely")
    schedule_form.locator("button[type=submit]").click()
    schedules = page.locator("#schedules")
    expect(schedules).to_contain_text("ten-minutely")
    expect(schedules).to_contain_text("Next run")
    assert Schedule.objects.get().params == {"n": 4}

    schedules.get_by_role("button", name="Pause").click()
    expect(page.locator("#schedules .badge")).to_contain_text("paused")
    expect(schedules).to_contain_text("Paused: no next run")

    trigger_form = page.locator("#new-trigger form")
    trigger_form.locator("textarea[name=mapping]").fill('{"n": "$.count"}')
    trigger_form.locator("button[type=submit]").click()
    secret = page.locator("#trigger-secret").inner_text()
    url = re.search(r"URL: (\S+)", page.locator(".created-secret").inner_text()).group(1)
    assert secret.startswith("fdh_")

    response = httpx.post(url, json={"count": 8}, headers={"X-Flowdeck-Secret": secret})
    assert response.status_code == 201, response.text
    page.reload()
    expect(page.locator("#trigger-secret")).to_have_count(0)  # shown once
    expect(page.locator("#triggers .deliveries")).to_contain_text("201")
    expect(page.locator("#triggers .deliveries")).to_contain_text(f"run {response.json()['run']}")
