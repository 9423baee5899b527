"""The run page's Retry and Copy: the parameter form, prefilled with the run's values."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from runs.models import Run, StepRun
from runs.services.lifecycle import run_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_run(user, workflow):
    """A finished run of alice/demo: a succeeded, b failed, c skipped."""
    run = run_start(user=user, version=workflow, params={"n": 7, "cfg": {"b": [1, 2]}, "mode": "slow"}, name="first")
    Run.objects.filter(pk=run.pk).update(status="failed", error="Step 'b' failed.")
    for name, status in (("a", "succeeded"), ("b", "failed"), ("c", "skipped")):
        StepRun.objects.filter(run=run, name=name).update(status=status, attempt=1 if status != "skipped" else 0)
    return Run.objects.get(pk=run.pk)


def test_a_finished_run_offers_retry_and_copy_and_a_live_one_does_not(alice_client, user, workflow, failed_run):
    html = alice_client.get(reverse("runs:detail", args=[failed_run.pk])).content.decode()
    assert f'href="{reverse("runs:retry", args=[failed_run.pk])}"' in html
    assert f'href="{reverse("runs:copy", args=[failed_run.pk])}"' in html
    live = run_start(user=user, version=workflow)
    html = alice_client.get(reverse("runs:detail", args=[live.pk])).content.decode()
    assert "Retry…" not in html and "Copy…" not in html


def test_the_retry_form_is_prefilled_and_edits_the_run(alice_client, failed_run):
    url = reverse("runs:retry", args=[failed_run.pk])
    html = alice_client.get(url).content.decode()
    assert 'name="param-n" value="7"' in html
    assert '<option value="slow" selected>' in html
    assert "{&quot;b&quot;: [1, 2]}" in html  # json shown as JSON text
    assert 'name="param-run-name"' not in html  # a retry keeps its run and its name

    response = alice_client.post(url, {"param-n": "9", "param-mode": "slow", "param-flag": "on", "param-cfg": '{"b": [1, 2]}'})
    assert response.status_code == 302 and response["Location"] == reverse("runs:detail", args=[failed_run.pk])
    run = Run.objects.get(pk=failed_run.pk)
    assert run.status == "queued" and run.params["n"] == 9 and run.params["cfg"] == {"b": [1, 2]}
    # b failed and reads n: it and c get a new attempt; a reads no parameter and is kept.
    assert dict(run.steps.values_list("name", "status")) == {"a": "succeeded", "b": "pending", "c": "pending"}


def test_a_bad_value_is_shown_on_its_field_and_changes_nothing(alice_client, failed_run):
    url = reverse("runs:retry", args=[failed_run.pk])
    response = alice_client.post(url, {"param-n": "500", "param-mode": "slow"})
    assert response.status_code == 400
    assert "has-error" in response.content.decode()
    assert Run.objects.get(pk=failed_run.pk).status == "failed"


def test_retrying_a_succeeded_run_with_nothing_changed_says_so(alice_client, failed_run):
    Run.objects.filter(pk=failed_run.pk).update(status="succeeded")
    StepRun.objects.filter(run=failed_run).update(status="succeeded")
    url = reverse("runs:retry", args=[failed_run.pk])
    html = alice_client.get(url).content.decode()
    form = {"param-n": "7", "param-mode": "slow", "param-cfg": '{"b": [1, 2]}', "param-rate": "0.5", "param-label": "hello",
            "param-flag": "on"}
    response = alice_client.post(url, form)
    assert response.status_code == 400 and "nothing to retry" in response.content.decode()
    assert 'name="param-n" value="7"' in html


def test_copy_opens_the_form_prefilled_and_starts_a_new_run(alice_client, user, failed_run):
    url = reverse("runs:copy", args=[failed_run.pk])
    html = alice_client.get(url).content.decode()
    assert 'name="param-n" value="7"' in html and 'name="param-run-name"' in html
    response = alice_client.post(url, {"param-n": "11", "param-mode": "fast", "param-run-name": "second"})
    copy = Run.objects.exclude(pk=failed_run.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("runs:detail", args=[copy.pk])
    assert copy.params["n"] == 11 and copy.params["mode"] == "fast" and copy.params["cfg"] == {"b": [1, 2]}
    assert copy.name == "second" and copy.asset_version_id == failed_run.asset_version_id
    assert Run.objects.get(pk=failed_run.pk).status == "failed"  # the original is untouched


def test_others_get_404_and_posts_need_csrf(client, other_user, user, failed_run):
    client.force_login(other_user)
    for name in ("runs:retry", "runs:copy"):
        assert client.get(reverse(name, args=[failed_run.pk])).status_code == 404
        assert client.post(reverse(name, args=[failed_run.pk]), {"param-n": "9"}).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("runs:retry", args=[failed_run.pk]), {"param-n": "9"}).status_code == 403
    assert Run.objects.get(pk=failed_run.pk).params["n"] == 7
