"""Starting runs from the web, the run list and the run page with its fragments."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from core import storage
from runs.models import Run, RunStatus, StepRun, StepStatus
from runs.services.lifecycle import run_start
from runs.services.tracking import artifact_put, log_batch

START = reverse("runs:start", args=["alice", "demo"])


@pytest.fixture(params=["session-store", "local-files"])
def any_store(request):
    """Run a test body on the session's store (S3) and again on local files."""
    if request.param == "local-files":
        request.getfixturevalue("local_storage")
    return request.param


def form_data(**params) -> dict:
    data = {"version": "1.0.0", "param-n": "3", "param-rate": "0.5", "param-mode": "fast",
            "param-flag": "on", "param-cfg": '{"a": 1}', "param-label": "hello", "param-run-name": ""}
    data.update(params)
    return {k: v for k, v in data.items() if v is not None}


# --- starting ------------------------------------------------------------------------------
def test_it_starts_a_run_with_coerced_params_and_redirects_to_it(alice_client, user, workflow):
    data = form_data(**{"param-n": "7", "param-rate": "0.25", "param-mode": "slow", "param-flag": None,
                        "param-cfg": '{"b": [1, 2]}', "param-label": "hi there", "param-run-name": "first try"})
    response = alice_client.post(START, data)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("runs:detail", args=[run.pk])
    assert run.params == {"n": 7, "rate": 0.25, "mode": "slow", "flag": False, "cfg": {"b": [1, 2]}, "label": "hi there"}
    assert run.name == "first try"
    assert run.created_by == user and run.asset_version == workflow
    assert list(run.steps.values_list("name", "status")) == [("a", "pending"), ("b", "pending"), ("c", "pending")]


def test_blank_fields_take_the_defaults(alice_client, workflow):
    response = alice_client.post(START, {"version": "1.0.0", "param-mode": "fast"})
    assert response.status_code == 302
    assert Run.objects.get().params == {"n": 3, "rate": 0.5, "mode": "fast", "flag": False, "cfg": {"a": 1}, "label": "hello"}


def test_a_value_of_the_wrong_type_is_shown_on_the_form(alice_client, workflow):
    response = alice_client.post(START, form_data(**{"param-n": "abc"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Parameter &#x27;n&#x27; expects a whole number." in html
    assert 'value="abc"' in html  # the form keeps what was typed
    assert not Run.objects.exists()


def test_a_service_error_lands_on_the_field_it_names(alice_client, workflow):
    response = alice_client.post(START, form_data(**{"param-cfg": "{not json"}))
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('id="id_param-cfg"'):]
    field = field[: field.index('<div class="field')]
    assert "Parameter &#x27;cfg&#x27; expects JSON" in field
    assert not Run.objects.exists()


def test_an_error_without_a_parameter_is_shown_above_the_form(alice_client, user, workflow):
    type(workflow).objects.filter(pk=workflow.pk).update(yanked_at=timezone.now(), yank_reason="broken")
    response = alice_client.post(START, form_data())
    assert response.status_code == 400
    assert '<div class="form-errors"><p>alice/demo@1.0.0 is yanked (broken)' in response.content.decode()
    assert not Run.objects.exists()


def test_starting_needs_a_login(client, workflow):
    response = client.post(START, form_data())
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not Run.objects.exists()


def test_starting_an_invisible_workflow_is_404(client, other_user, user):
    from tests.factories import make_spec, publish

    publish(user, spec=make_spec(name="hidden"), visibility="private")
    client.force_login(other_user)
    response = client.post(reverse("runs:start", args=["alice", "hidden"]), {"version": "1.0.0"})
    assert response.status_code == 404
    assert not Run.objects.exists()


# --- list ---------------------------------------------------------------------------------------
def test_the_run_list_needs_a_login(client, db):
    response = client.get(reverse("runs:list"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('runs:list')}"


def test_the_run_list_shows_visible_runs_and_filters(alice_client, user, other_user, workflow):
    mine = run_start(user=user, version=workflow, name="mine")
    done = run_start(user=user, version=workflow, name="done")
    Run.objects.filter(pk=done.pk).update(status=RunStatus.SUCCEEDED)
    run_start(user=other_user, version=workflow, name="bobs")

    html = alice_client.get(reverse("runs:list")).content.decode()
    assert "mine" in html and "done" in html and "bobs" not in html
    assert ">alice/demo</a>" in html and "<td>1.0.0</td>" in html  # workflow and version columns
    assert 'class="badge status-queued"' in html and 'class="badge status-succeeded"' in html

    html = alice_client.get(reverse("runs:list"), {"status": "succeeded"}).content.decode()
    assert reverse("runs:detail", args=[done.pk]) in html
    assert reverse("runs:detail", args=[mine.pk]) not in html

    html = alice_client.get(reverse("runs:list"), {"workflow": "alice/other"}).content.decode()
    assert "No runs match." in html


# --- one run ------------------------------------------------------------------------------------
def _progress(run: Run) -> None:
    """Make the run look half done, as a worker would leave it."""
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=now)
    key = storage.step_key(run.pk, "a", 1, "log.txt")
    size = storage.put(key, b"loading data\nx=2\n")
    StepRun.objects.filter(run=run, name="a").update(
        status=StepStatus.SUCCEEDED, attempt=1, worker="w1@host", started_at=now, finished_at=now,
        log_key=key, log_size=size,
    )
    StepRun.objects.filter(run=run, name="b").update(status=StepStatus.RUNNING, attempt=1, started_at=now)
    log_batch(run=run, metrics=[{"key": "loss", "value": v, "step": i} for i, v in enumerate([1.0, 0.5, 0.25])],
              params={"seed": 42}, tags={"team": "ml"})
    artifact_put(run=run, path="model/weights.bin", content=b"\x00" * 2048)


def test_the_run_page_shows_steps_params_metrics_and_artifacts(alice_client, user, workflow):
    run = run_start(user=user, version=workflow, params={"n": 5})
    _progress(run)
    response = alice_client.get(reverse("runs:detail", args=[run.pk]))
    assert response.status_code == 200
    html = response.content.decode()

    steps = html[html.index("steps-table"):]
    steps = steps[: steps.index("</table>")]
    assert re.search(r'<td class="mono">a</td>\s*<td><span class="badge status-succeeded">succeeded</span>', steps)
    assert re.search(r'<td class="mono">b</td>\s*<td><span class="badge status-running">running</span>', steps)
    assert "w1@host" in steps

    assert 'hx-trigger="every 2s"' in html  # live while running
    assert 'class="dag-node status-succeeded" data-step="a"' in html
    assert '<th class="mono">n</th><td class="mono">5</td>' in html
    assert '<th class="mono">seed</th><td class="mono">42</td>' in html
    assert '<th class="mono">team</th><td>ml</td>' in html
    assert '<td class="mono">loss</td>' in html and '<td class="num">0.25</td>' in html

    data = re.search(r'<script id="metrics-data" type="application/json">(.*?)</script>', html, re.S)
    assert json.loads(data.group(1)) == {"loss": {"step": [0, 1, 2], "value": [1.0, 0.5, 0.25]}}
    assert "plotly/plotly.min.js" in html and "run_charts.js" in html

    assert reverse("runs:artifact", args=[run.pk, "model/weights.bin"]) in html
    assert "2.0\xa0KB" in html
    assert reverse("runs:step-log", args=[run.pk, "a"]) in html
    assert ">Stop</button>" in html


def test_a_final_run_stops_polling_and_offers_no_stop_button(alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="Step 'b' failed.")
    html = alice_client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert "hx-trigger" not in html.split("Step logs")[0]
    assert ">Stop</button>" not in html
    assert "Step &#x27;b&#x27; failed." in html
    assert "plotly.min.js" not in html  # no chart, no chart library


def test_the_status_fragment_polls_until_the_run_ends(alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    url = reverse("runs:status", args=[run.pk])
    fragment = alice_client.get(url, {"live": "1"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="run-status"')
    assert 'hx-trigger="every 2s"' in html and "<html" not in html

    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    # The first poll after the end asks htmx to reload the page once, which then is static.
    ended = alice_client.get(url, {"live": "1"}, headers={"HX-Request": "true"})
    assert ended.headers["HX-Refresh"] == "true"
    html = alice_client.get(url).content.decode()
    assert "hx-trigger" not in html and "status-succeeded" in html


def test_stop_stops_a_live_run(alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    response = alice_client.post(reverse("runs:stop", args=[run.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("runs:detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.STOPPED}

    again = alice_client.post(reverse("runs:stop", args=[run.pk]), follow=True)
    assert "has already ended" in again.content.decode()


def test_a_step_log_fragment_shows_the_log(any_store, alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    _progress(run)
    html = alice_client.get(reverse("runs:step-log", args=[run.pk, "a"])).content.decode()
    assert '<pre class="log">loading data\nx=2\n</pre>' in html
    assert "truncated" not in html
    html = alice_client.get(reverse("runs:step-log", args=[run.pk, "c"])).content.decode()
    assert "No log yet" in html
    assert alice_client.get(reverse("runs:step-log", args=[run.pk, "nope"])).status_code == 404


def test_a_long_log_is_cut_to_its_tail(any_store, alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    key = storage.step_key(run.pk, "a", 1, "log.txt")
    storage.put(key, b"HEAD\n" + b"." * (300 * 1024) + b"\nTAIL")
    StepRun.objects.filter(run=run, name="a").update(log_key=key, status=StepStatus.FAILED)
    html = alice_client.get(reverse("runs:step-log", args=[run.pk, "a"])).content.decode()
    assert "(truncated, showing the last 256 KiB)" in html
    assert "TAIL</pre>" in html and "HEAD" not in html


def test_an_artifact_downloads(any_store, alice_client, user, workflow):
    run = run_start(user=user, version=workflow)
    artifact_put(run=run, path="report.txt", content=b"all good")
    response = alice_client.get(reverse("runs:artifact", args=[run.pk, "report.txt"]))
    # Local storage streams the bytes; S3 answers with a presigned URL.
    if storage.is_s3():
        assert response.status_code == 302 and "report.txt" in response["Location"]
    else:
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"all good"
    assert alice_client.get(reverse("runs:artifact", args=[run.pk, "missing.txt"])).status_code == 404


def test_another_users_run_is_404(client, user, other_user, workflow):
    run = run_start(user=user, version=workflow)
    client.force_login(other_user)
    for url in (
        reverse("runs:detail", args=[run.pk]),
        reverse("runs:status", args=[run.pk]),
        reverse("runs:step-log", args=[run.pk, "a"]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
    assert client.post(reverse("runs:stop", args=[run.pk])).status_code == 404
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_a_missing_run_is_404(alice_client, db):
    assert alice_client.get(reverse("runs:detail", args=[999999])).status_code == 404
