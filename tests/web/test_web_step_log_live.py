"""The run page's step log fragment: a live log grows by polling for the text after its
offset, and stops polling once the step has ended and everything was shown."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from core import storage
from runs.models import StepLogChunk, StepRun, StepStatus
from runs.services.lifecycle import run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(user, workflow) -> StepRun:
    """Step "a" of a run, running, with one live chunk shipped."""
    run = run_start(user=user, version=workflow)
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.RUNNING, attempt=1, started_at=timezone.now())
    step = StepRun.objects.get(run=run, name="a")
    StepLogChunk.objects.create(step=step, attempt=1, offset=14, data="loading <data\n")
    return step


def fragment(client, step: StepRun, **query) -> tuple[str, object]:
    response = client.get(reverse("runs:step-log", args=[step.run_id, step.name]), query, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode(), response


def poller(html: str) -> str | None:
    found = re.search(r'<span class="log-poll" hx-get="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_running_steps_log_shows_what_was_shipped_and_polls_for_more(alice_client, running):
    html, _ = fragment(alice_client, running)
    assert '<pre class="log" data-live>loading <data\n<span class="log-poll"' in html.replace("&lt;", "<")
    assert poller(html).endswith("?offset=14&attempt=1")
    assert 'hx-target="this" hx-swap="outerHTML"' in html


def test_a_poll_answers_only_the_new_text_and_the_next_poller(alice_client, running):
    html, _ = fragment(alice_client, running, offset=14, attempt=1)
    assert html.startswith('<span class="log-poll"')  # nothing new: just poll again
    assert poller(html).endswith("?offset=14&attempt=1")

    StepLogChunk.objects.create(step=running, attempt=1, offset=30, data="epoch 1 <ok>\n")
    html, response = fragment(alice_client, running, offset=14, attempt=1)
    assert html.startswith('<span class="log-new">epoch 1 &lt;ok&gt;\n</span><span class="log-poll"')
    assert poller(html).endswith("?offset=30&attempt=1")
    assert "HX-Retarget" not in response.headers


def test_once_the_step_ended_the_poll_answers_the_rest_and_stops(alice_client, running):
    key = storage.step_key(running.run_id, "a", 1, "log.txt")
    size = storage.put(key, b"loading <data\nepoch 1\ndone\n")
    StepRun.objects.filter(pk=running.pk).update(status=StepStatus.SUCCEEDED, log_key=key, log_size=size)
    StepLogChunk.objects.filter(step=running).delete()
    html, _ = fragment(alice_client, running, offset=14, attempt=1)
    assert html == '<span class="log-new">epoch 1\ndone\n</span>'  # no poller: the log is complete


def test_a_long_ended_log_or_a_new_attempt_replaces_the_whole_view(alice_client, running):
    StepRun.objects.filter(pk=running.pk).update(attempt=2)
    StepLogChunk.objects.create(step=running, attempt=2, offset=6, data="retry\n")
    html, response = fragment(alice_client, running, offset=14, attempt=1)
    assert response.headers["HX-Retarget"] == f"#step-log-{running.pk}"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert f'<div class="step-log" id="step-log-{running.pk}">' in html and ">retry\n<span" in html

    key = storage.step_key(running.run_id, "a", 2, "log.txt")
    size = storage.put(key, b"HEAD\n" + b"." * (400 * 1024) + b"\nTAIL\n")
    StepRun.objects.filter(pk=running.pk).update(status=StepStatus.FAILED, log_key=key, log_size=size)
    html, response = fragment(alice_client, running, offset=6, attempt=2)
    assert response.headers["HX-Retarget"] == f"#step-log-{running.pk}"
    assert "(truncated, showing the last 256 KiB)" in html
    assert "TAIL\n</pre>" in html and "HEAD" not in html and "log-poll" not in html


def test_a_step_that_has_not_started_says_so_until_its_first_text(alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    step = StepRun.objects.get(run=run, name="c")
    html, _ = fragment(alice_client, step)
    assert f'id="step-log-wait-{step.pk}">No log yet' in html
    assert poller(html).endswith("?offset=0&attempt=0&waiting=1")

    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, attempt=1)
    html, _ = fragment(alice_client, step, offset=0, attempt=0, waiting=1)  # the attempt moved on: a new view
    assert "No log yet" in html
    StepLogChunk.objects.create(step=step, attempt=1, offset=6, data="hello\n")
    html, _ = fragment(alice_client, step, offset=0, attempt=1, waiting=1)
    assert f'<span hx-swap-oob="delete:#step-log-wait-{step.pk}"></span>' in html  # the note goes
    assert poller(html).endswith("?offset=6&attempt=1")  # and is not asked to go again


def test_the_run_page_opens_running_steps_logs(alice_client, running):
    html = alice_client.get(reverse("runs:detail", args=[running.run_id])).content.decode()
    details = re.findall(r'<details class="log-block" id="log-(\w+)"[^>]*>', html)
    assert details == ["a", "b", "c"]
    opened = re.findall(r'<details class="log-block" id="log-(\w+)"[^>]* open>', html)
    assert opened == ["a"]
    assert 'hx-trigger="load[this.open], toggle[this.open]"' in html
    assert "run_logs.js" in html
