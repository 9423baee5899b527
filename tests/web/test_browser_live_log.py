"""In headless Chromium: the run page shows a running step's log growing, line by line,
without reloading the page."""
from __future__ import annotations

import pytest

from runs.models import StepRun, StepStatus
from runs.services.lifecycle import run_start
from tests.factories import browser_log_in, make_spec, publish

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = '''\
import time


def warm_up():
    print("warming up", flush=True)
    time.sleep(3)


def talk():
    print("first line", flush=True)
    time.sleep(2)
    print("second <line>", flush=True)
    time.sleep(2)
    print("last line", flush=True)
'''


def log_in(page, live_server, user) -> None:
    browser_log_in(page, live_server.url, user)


def wait_running(celery_worker, run, step: str) -> None:
    celery_worker.wait_for(
        lambda: StepRun.objects.filter(run=run, name=step, status=StepStatus.RUNNING).exists(),
        timeout=30, what=f"step {step} to start",
    )


def test_a_running_steps_log_grows_on_the_page_without_a_reload(page, celery_worker, live_server, user):
    from playwright.sync_api import expect

    spec = make_spec(name="talker", params=[], steps=[
        {"name": "warm_up", "fn": "workflow:warm_up"},
        {"name": "talk", "fn": "workflow:talk", "depends_on": ["warm_up"]},
    ])
    run = run_start(user=user, version=publish(user, spec=spec, files={"workflow.py": SOURCE}))
    log_in(page, live_server, user)
    wait_running(celery_worker, run, "warm_up")
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    # The running step's log is open and shows what it printed; the next step's is closed.
    expect(page.locator("#log-warm_up")).to_have_attribute("open", "")
    expect(page.locator("#log-warm_up pre.log")).to_contain_text("warming up")
    expect(page.locator("#log-talk")).not_to_have_attribute("open", "")
    expect(page.locator("#log-talk summary .badge")).to_have_text("pending")

    # When the next step starts, its log opens by itself and grows line by line.
    log = page.locator("#log-talk pre.log")
    expect(page.locator("#log-talk")).to_have_attribute("open", "", timeout=15_000)
    expect(page.locator("#log-talk summary .badge")).to_have_text("running")
    expect(log).to_contain_text("first line", timeout=10_000)
    expect(log).to_contain_text("second <line>", timeout=10_000)
    assert page.evaluate("window.sameDocument === true")
    # The page reloads once when the run ends (to show final metrics and artifacts); the logs
    # that were open stay open, with the whole log.
    expect(page.locator("#run-status .title-row .badge")).to_have_text("succeeded", timeout=25_000)
    page.wait_for_function("window.sameDocument === undefined")
    expect(page.locator("#log-talk")).to_have_attribute("open", "")
    expect(page.locator("#log-talk pre.log")).to_contain_text("first line\nsecond <line>\nlast line\n")
    expect(page.locator("#log-talk pre.log .log-poll")).to_have_count(0)  # complete: no more polling


BATCHES_SOURCE = '''\
import time


def talk():
    for batch in (1, 2, 3):
        for i in range(200):
            print(f"batch {batch} line {i}")
        time.sleep(3)
'''

AT_END = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 24"


def test_a_growing_log_keeps_its_end_in_view_unless_the_reader_scrolled_up(page, celery_worker, live_server, user):
    from playwright.sync_api import expect

    spec = make_spec(name="talker", params=[], steps=[{"name": "talk", "fn": "workflow:talk"}])
    run = run_start(user=user, version=publish(user, spec=spec, files={"workflow.py": BATCHES_SOURCE}))
    log_in(page, live_server, user)
    wait_running(celery_worker, run, "talk")
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    log = page.locator("#log-talk pre.log")

    expect(log).to_contain_text("batch 1 line 199", timeout=10_000)
    page.wait_for_timeout(300)  # the scroll follows the swap
    assert log.evaluate(AT_END)
    expect(log).to_contain_text("batch 2 line 199", timeout=10_000)
    page.wait_for_timeout(300)
    assert log.evaluate(AT_END), "new text arrived but the log did not follow it"

    log.evaluate("el => { el.scrollTop = 0; }")  # the reader scrolls up to read
    expect(log).to_contain_text("batch 3 line 199", timeout=10_000)
    page.wait_for_timeout(300)
    assert log.evaluate("el => el.scrollTop") == 0, "new text pulled the reader away from where they were"
